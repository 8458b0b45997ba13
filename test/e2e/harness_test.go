//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const busybox = "kubelet-lite.local/busybox:v1"

// containerState mirrors what `kubelet-lite ps -o json` prints.
type containerState struct {
	ID, Name   string
	Attempt    int
	State      string
	PID        int
	ExitCode   int
	Reason     string
	Message    string
	Cgroup     string
	LogPath    string
	StartedAt  time.Time
	FinishedAt time.Time
}

type podState struct {
	UID             string
	Namespace, Name string
	SandboxPID      int
	Containers      []containerState
	// Status is the pod status the agent last reported.
	Status *corev1.PodStatus
}

func (p podState) container(name string) (containerState, bool) {
	for _, c := range p.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return containerState{}, false
}

// agent is one kubelet-lite process with its own state, logs, manifests and
// cgroup root, all removed when the test ends.
type agent struct {
	t          *testing.T
	bin        string
	dir        string
	root       string
	logDir     string
	manifests  string
	cgroupRoot string
	node       string
	extraArgs  []string
	cmd        *exec.Cmd
	exited     chan struct{}
}

func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the e2e tests through hack/test.sh", name)
	}
	return v
}

// newAgent prepares an agent (not started) whose cgroups nest below this
// test process's own cgroup, and imports the test images into its store.
func newAgent(t *testing.T, extraArgs ...string) *agent {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("e2e tests need root")
	}
	bin := requireEnv(t, "KL_BINARY")
	images := requireEnv(t, "KL_IMAGES")
	dir, err := os.MkdirTemp("", "kl-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	own, err := ownCgroup()
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{
		t: t, bin: bin, dir: dir, extraArgs: extraArgs,
		root: filepath.Join(dir, "root"), logDir: filepath.Join(dir, "logs"), manifests: filepath.Join(dir, "manifests"),
		cgroupRoot: filepath.Join(own, "kl-e2e-"+filepath.Base(dir)), node: "e2e-node",
	}
	for _, d := range []string{a.root, a.logDir, a.manifests} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a.run("images", "--root-dir", a.root, "import", filepath.Join(images, "busybox.tar"))
	t.Cleanup(a.cleanup)
	return a
}

// run runs a kubelet-lite subcommand and returns its stdout.
func (a *agent) run(args ...string) string {
	a.t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(a.bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		a.t.Fatalf("kubelet-lite %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func (a *agent) start() {
	a.t.Helper()
	logf, err := os.OpenFile(filepath.Join(a.dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"run", "--pod-manifest-path", a.manifests, "--root-dir", a.root, "--log-dir", a.logDir,
		"--cgroup-root", a.cgroupRoot, "--hostname-override", a.node, "--file-check-frequency", "2s", "-v", "2"}, a.extraArgs...)
	a.cmd = exec.Command(a.bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(a.cmd, a.exited)
}

// kill ends the agent with SIGKILL, as a crash would.
func (a *agent) kill() {
	a.t.Helper()
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
	a.cmd = nil
}

// alive reports whether the agent process is still running.
func (a *agent) alive() bool {
	select {
	case <-a.exited:
		return false
	default:
		return a.cmd != nil
	}
}

func (a *agent) writePod(name, yaml string) {
	a.t.Helper()
	if err := os.WriteFile(filepath.Join(a.manifests, name+".yaml"), []byte(yaml), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent) removePod(name string) {
	a.t.Helper()
	if err := os.Remove(filepath.Join(a.manifests, name+".yaml")); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent) ps() []podState {
	a.t.Helper()
	var pods []podState
	if err := json.Unmarshal([]byte(a.run("ps", "--root-dir", a.root, "-o", "json")), &pods); err != nil {
		a.t.Fatalf("ps -o json: %v", err)
	}
	return pods
}

// pod returns the pod whose manifest name is name, if the runtime knows it.
func (a *agent) pod(name string) (podState, bool) {
	for _, p := range a.ps() {
		if p.Name == name+"-"+a.node {
			return p, true
		}
	}
	return podState{}, false
}

// waitContainer waits until the container of pod satisfies ok.
func (a *agent) waitContainer(pod, ctr string, timeout time.Duration, ok func(containerState) bool) containerState {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last containerState
	for time.Now().Before(deadline) {
		if p, found := a.pod(pod); found {
			if c, found := p.container(ctr); found {
				last = c
				if ok(c) {
					return c
				}
			}
		}
		if !a.alive() {
			a.t.Fatalf("agent exited while waiting for %s/%s\n%s", pod, ctr, a.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("container %s/%s not as wanted after %s; last %+v\nagent log:\n%s", pod, ctr, timeout, last, a.log())
	return last
}

func running(c containerState) bool { return c.State == "running" && c.PID > 0 }

// waitGone waits until the runtime no longer knows the pod.
func (a *agent) waitGone(pod string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, found := a.pod(pod); !found {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("pod %s still present after %s\n%s", pod, timeout, a.log())
}

func (a *agent) log() string {
	b, _ := os.ReadFile(filepath.Join(a.dir, "agent.log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// cleanup removes every pod through the agent, stops it and checks that
// nothing is left: no mounts below its state dir, no cgroups.
func (a *agent) cleanup() {
	t := a.t
	entries, _ := os.ReadDir(a.manifests)
	for _, e := range entries {
		_ = os.Remove(filepath.Join(a.manifests, e.Name()))
	}
	if a.cmd == nil && len(entries) > 0 {
		a.start()
	}
	if a.cmd != nil {
		deadline := time.Now().Add(60 * time.Second)
		for len(a.ps()) > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if left := a.ps(); len(left) > 0 {
			t.Errorf("pods left after their manifests were removed: %+v\n%s", left, a.log())
		}
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("agent did not stop on SIGTERM")
			a.kill()
		}
	}
	if m := mountsBelow(a.dir); len(m) > 0 {
		t.Errorf("mounts left below %s: %v", a.dir, m)
	}
	if left := podCgroups(a.cgroupRoot); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	removeCgroupRoot(a.cgroupRoot)
	if !t.Failed() {
		_ = os.RemoveAll(a.dir)
	} else {
		t.Logf("kept %s for inspection", a.dir)
	}
}

func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// cgroupHierarchies are the directories a cgroup path lives in on this host:
// the unified one on v2, every mounted hierarchy on v1 (the library makes
// the agent's cgroups on all of them).
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && (f[2] == "cgroup" || f[2] == "cgroup2") {
			out = append(out, f[1])
		}
	}
	return out
}

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// podCgroups lists the pod cgroups left below root. The QoS levels
// (kubepods, burstable, besteffort) stay, as upstream leaves them.
func podCgroups(root string) []string {
	var out []string
	for _, h := range cgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "pod") {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// removeCgroupRoot removes the agent's whole cgroup tree, deepest first.
func removeCgroupRoot(root string) {
	for _, h := range cgroupHierarchies() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}

// ownCgroup is the deepest cgroup this process is in (see cgroup.Own).
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	deepest := "/"
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || strings.HasPrefix(parts[1], "name=") || (cgroupV2() != (parts[0] == "0")) {
			continue
		}
		if len(parts[2]) > len(deepest) {
			deepest = parts[2]
		}
	}
	return deepest, nil
}

// cgroupFile reads one file of the cgroup rel (relative to the agent's root);
// on v1 the controller is the file's prefix.
func (a *agent) cgroupFile(rel, file string) string {
	a.t.Helper()
	dir := filepath.Join("/sys/fs/cgroup", a.cgroupRoot, rel)
	if !cgroupV2() {
		controller, _, _ := strings.Cut(file, ".")
		dir = filepath.Join("/sys/fs/cgroup", controller, a.cgroupRoot, rel)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		a.t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// exec runs a command in a running container's namespaces with nsenter.
func (a *agent) nsenter(pid int, args ...string) (string, error) {
	full := append([]string{"-t", fmt.Sprint(pid), "-m", "-u", "-i", "-n", "-p", "--"}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	return string(out), err
}
