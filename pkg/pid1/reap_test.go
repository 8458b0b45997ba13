package pid1

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// child is a process as /proc/PID/stat shows it.
type child struct {
	pid   int
	comm  string
	state byte
}

// childrenOf lists the processes whose parent is ppid.
func childrenOf(t *testing.T, ppid int) []child {
	t.Helper()
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []child
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp != ppid {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		out = append(out, child{pid: pid, comm: s[open+1 : end], state: f[0][0]})
	}
	return out
}

func TestMainReapsOrphans(t *testing.T) {
	t.Parallel()
	// 100 subshells each leave a short sleep behind and exit, so the sleeps
	// are orphaned and reparent to pid1 (a subreaper), then exit themselves.
	// They live a second, long enough to be seen on a loaded machine.
	p := startPID1(t, nil, "sh", "-c", `echo $$; for i in $(seq 100); do (sleep 1 &) ; done; echo spawned; sleep 10`)
	pid := p.cmd.Process.Pid
	defer func() {
		// End the app and its sleep: its process group is its pid.
		if es := p.entries(t); len(es) > 0 {
			if pgid, err := strconv.Atoi(string(es[0].Content)); err == nil && pgid > 1 {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}
		if code := p.wait(t, 10*time.Second); code != 137 {
			t.Errorf("exit code %d, want 137 (app killed)", code)
		}
	}()

	adopted := 0
	for time.Since(p.started) < 5*time.Second && adopted == 0 {
		for _, c := range childrenOf(t, pid) {
			if c.comm == "sleep" {
				adopted++
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if adopted == 0 {
		t.Fatal("no orphaned sleep was ever a child of pid1: it is not a subreaper")
	}
	p.waitForLog(t, "spawned")

	// The sleeps end 1s after the last was spawned. Once they have, pid1
	// must have no child but the app: no zombie stays behind.
	time.Sleep(1500 * time.Millisecond)
	var left []child
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		left = left[:0]
		for _, c := range childrenOf(t, pid) {
			if c.comm != "sh" || c.state == 'Z' {
				left = append(left, c)
			}
		}
		if len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("pid1 still has %d children besides the app (state 90 = zombie): %+v", len(left), left)
	}
	if n := len(childrenOf(t, pid)); n != 1 {
		t.Errorf("pid1 has %d children, want only the app", n)
	}
}

// startPause runs Pause and waits until it handles SIGTERM: it ignores
// SIGHUP only after subscribing to SIGTERM and SIGINT.
func startPause(t *testing.T) *proc {
	t.Helper()
	p := start(t, PauseMode, nil)
	status := "/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(status)
		for _, l := range strings.Split(string(data), "\n") {
			if mask, ok := strings.CutPrefix(l, "SigIgn:"); ok {
				if v, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64); err == nil && v&(1<<(syscall.SIGHUP-1)) != 0 {
					return p
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("pause never became ready")
	return nil
}

func TestPause(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		signals []syscall.Signal
	}{
		{name: "SIGTERM", signals: []syscall.Signal{syscall.SIGTERM}},
		{name: "SIGINT", signals: []syscall.Signal{syscall.SIGINT}},
		{name: "SIGHUP and SIGUSR1 ignored, then SIGTERM", signals: []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPause(t)
			for i, s := range tc.signals {
				if i > 0 {
					time.Sleep(100 * time.Millisecond)
				}
				if err := p.cmd.Process.Signal(s); err != nil {
					t.Fatalf("pause exited before %v: %v", s, err)
				}
			}
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
		})
	}
}

func TestPauseRejectsArguments(t *testing.T) {
	t.Parallel()
	p := start(t, PauseMode, []string{"extra"})
	if code := p.wait(t, 10*time.Second); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}
