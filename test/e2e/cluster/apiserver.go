package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StopAPIServer stops the kube-apiserver that up.sh (or StartAPIServer)
// started, and only that process: SIGTERM, SIGKILL after 15 s (it stops
// listening at once but may take longer to exit), then waits until it is
// gone. It remembers the command line for StartAPIServer.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	pid, start, err := c.recorded("apiserver")
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("apiserver command line: %v", err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if filepath.Base(args[0]) != "kube-apiserver" {
		t.Fatalf("recorded apiserver pid %d runs %q, not kube-apiserver", pid, args[0])
	}
	c.apiserverArgs = args
	if !c.restartOnCleanup {
		// A test that fails while the apiserver is stopped still cleans up
		// through it.
		c.restartOnCleanup = true
		t.Cleanup(func() {
			if c.apiserverStopped {
				c.StartAPIServer(t)
			}
		})
	}
	c.apiserverStopped = true
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop apiserver (pid %d): %v", pid, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for alive(pid, start) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(time.Hour)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartAPIServer starts the kube-apiserver again with the command line
// StopAPIServer saw (same port, certificates and etcd), records it for
// down.sh, and waits until its /readyz answers ok.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	if c.apiserverArgs == nil {
		t.Fatal("StartAPIServer: the apiserver was not stopped with StopAPIServer")
	}
	logf, err := os.OpenFile(filepath.Join(c.Dir, "logs", "apiserver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(c.apiserverArgs[0], c.apiserverArgs[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start apiserver: %v", err)
	}
	go func() { _ = cmd.Wait() }() // reap it when down.sh stops it
	c.apiserverStopped = false
	pid := cmd.Process.Pid
	start, err := procStartTime(pid)
	if err != nil {
		t.Fatalf("apiserver exited at once: %v", err)
	}
	rec := fmt.Sprintf("%d %s\n", pid, start)
	if err := os.WriteFile(filepath.Join(c.Dir, "pids", "apiserver"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.waitReady(pid, start, 3*time.Minute); err != nil {
		c.logTails(t)
		t.Fatal(err)
	}
}

// waitReady polls the apiserver's /readyz as admin until it answers ok.
func (c *Cluster) waitReady(pid int, start string, timeout time.Duration) error {
	pki := filepath.Join(c.Dir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		if !alive(pid, start) {
			return errors.New("apiserver exited while starting; see its log")
		}
		resp, err := client.Get(c.APIServerURL + "/readyz")
		if err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && body.String() == "ok" {
				return nil
			}
			err = fmt.Errorf("readyz %d: %s", resp.StatusCode, body.String())
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("apiserver not ready after %s: %w", timeout, last)
}

// recorded returns the PID and start time up.sh recorded for a component,
// checking that the process still runs.
func (c *Cluster) recorded(name string) (int, string, error) {
	data, err := os.ReadFile(filepath.Join(c.Dir, "pids", name))
	if err != nil {
		return 0, "", fmt.Errorf("recorded %s: %w", name, err)
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, "", fmt.Errorf("recorded %s: want \"PID STARTTIME\", got %q", name, data)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, "", fmt.Errorf("recorded %s: %w", name, err)
	}
	if !alive(pid, f[1]) {
		return 0, "", fmt.Errorf("recorded %s (pid %d) is not running", name, pid)
	}
	return pid, f[1], nil
}

// alive says whether pid runs and started at start, so that a recycled PID
// is never taken for it. A zombie counts as gone once it is the last of its
// threads (its leader turns zombie while the others still exit), as in
// hack/cluster/lib.sh.
func alive(pid int, start string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	state, st, ok := parseStat(string(stat))
	if !ok || st != start {
		return false
	}
	if state != "Z" {
		return true
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return len(tasks) > 1
}

func procStartTime(pid int) (string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	_, start, ok := parseStat(string(stat))
	if !ok {
		return "", fmt.Errorf("/proc/%d/stat: cannot parse %q", pid, stat)
	}
	return start, nil
}

// parseStat returns the state (field 3) and start time (field 22, clock
// ticks since boot) of a /proc/PID/stat line, as hack/cluster/lib.sh does.
func parseStat(stat string) (state, start string, ok bool) {
	i := strings.LastIndex(stat, ") ")
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(stat[i+2:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}
