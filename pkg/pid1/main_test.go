package pid1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubelet-lite/kubelet-lite/pkg/crilog"
)

// modeEnv makes the re-executed test binary run Main or Pause instead of the
// tests, so the tests run the real code in a real process.
const modeEnv = "KUBELET_LITE_PID1_TEST_MODE"

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case ContainerMode:
		os.Exit(Main(os.Args[1:]))
	case PauseMode:
		os.Exit(Pause(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// proc is a re-executed test binary running Main or Pause.
type proc struct {
	cmd      *exec.Cmd
	started  time.Time
	dir      string
	waited   bool
	exitCode int
}

// startPID1 runs Main with fd 3 on a log file opened for append and fd 4 on
// an exit status file, as the agent does.
func startPID1(t *testing.T, flags []string, argv ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	logF, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	exitF, err := os.OpenFile(filepath.Join(dir, "exit"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--log-fd=3", "--exit-fd=4"}, flags...)
	args = append(append(args, "--"), argv...)
	p := start(t, ContainerMode, args, logF, exitF)
	p.dir = dir
	logF.Close()
	exitF.Close()
	return p
}

func start(t *testing.T, mode string, args []string, extra ...*os.File) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), modeEnv+"="+mode)
	cmd.ExtraFiles = extra
	p := &proc{cmd: cmd, started: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", mode, err)
	}
	t.Cleanup(func() {
		if !p.waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return p
}

// wait waits for the process to exit, at most timeout, and returns its code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-done
		p.waited = true
		t.Fatalf("process did not exit within %v", timeout)
	}
	p.waited = true
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		t.Fatalf("process was killed by %v, want an exit", ws.Signal())
	}
	p.exitCode = ws.ExitStatus()
	return p.exitCode
}

// entries parses the log file; every line must be a valid entry.
func (p *proc) entries(t *testing.T) []crilog.Entry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []crilog.Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		raw := append([]byte(nil), sc.Bytes()...)
		e, err := crilog.Parse(raw)
		if err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		if !strings.Contains(string(raw[:strings.IndexByte(string(raw), ' ')]), "Z") {
			t.Errorf("log line %q: timestamp not in UTC", raw)
		}
		if e.Time.Before(p.started.Add(-time.Second)) || e.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("log line %q: timestamp outside the test's run", raw)
		}
		out = append(out, e)
	}
	return out
}

// lines returns one stream's entries as "<tag> <content>".
func lines(es []crilog.Entry, s crilog.Stream) []string {
	var out []string
	for _, e := range es {
		if e.Stream != s {
			continue
		}
		tag := "F"
		if e.Partial {
			tag = "P"
		}
		out = append(out, tag+" "+string(e.Content))
	}
	return out
}

// status reads the recorded ExitStatus.
func (p *proc) status(t *testing.T) ExitStatus {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.dir, "exit"))
	if err != nil {
		t.Fatal(err)
	}
	var st ExitStatus
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("exit status %q: %v", data, err)
	}
	if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("exit status times: started %v, finished %v", st.StartedAt, st.FinishedAt)
	}
	return st
}

// waitForLog waits until the log has an entry with content want.
func (p *proc) waitForLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		if bytes.Contains(data, []byte(" "+want+"\n")) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log never had %q", want)
}

func equalLines(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

func TestMainWritesCRILog(t *testing.T) {
	t.Parallel()
	p := startPID1(t, nil, "sh", "-c", `echo out; echo err >&2; echo "two words"; printf 'no newline'`)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	es := p.entries(t)
	if got, want := lines(es, crilog.Stdout), []string{"F out", "F two words", "P no newline"}; !equalLines(got, want) {
		t.Errorf("stdout entries = %q, want %q", got, want)
	}
	if got, want := lines(es, crilog.Stderr), []string{"F err"}; !equalLines(got, want) {
		t.Errorf("stderr entries = %q, want %q", got, want)
	}
	if st := p.status(t); st.ExitCode != 0 || st.Signal != 0 || st.Message != "" {
		t.Errorf("exit status = %+v, want code 0", st)
	}
}

func TestMainLongLine(t *testing.T) {
	t.Parallel()
	p := startPID1(t, nil, "sh", "-c", `head -c 40000 /dev/zero | tr '\0' a; echo`)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	var got []string
	for _, e := range p.entries(t) {
		tag := "F"
		if e.Partial {
			tag = "P"
		}
		if strings.Trim(string(e.Content), "a") != "" {
			t.Errorf("entry content is not all 'a'")
		}
		got = append(got, fmt.Sprintf("%s %s %d", e.Stream, tag, len(e.Content)))
	}
	want := []string{"stdout P 16384", "stdout P 16384", "stdout F 7232"}
	if !equalLines(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}

func TestMainExitCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		argv       []string
		wantCode   int
		wantSignal int
	}{
		{name: "success", argv: []string{"true"}, wantCode: 0},
		{name: "exit 7", argv: []string{"sh", "-c", "exit 7"}, wantCode: 7},
		{name: "killed", argv: []string{"sh", "-c", "kill -KILL $$"}, wantCode: 137, wantSignal: 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPID1(t, nil, tc.argv...)
			if code := p.wait(t, 10*time.Second); code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			st := p.status(t)
			if st.ExitCode != tc.wantCode || st.Signal != tc.wantSignal {
				t.Errorf("exit status = %+v, want code %d signal %d", st, tc.wantCode, tc.wantSignal)
			}
		})
	}
}

func TestMainForwardsSignals(t *testing.T) {
	t.Parallel()
	// The app traps some signals and dies of the others.
	script := `trap 'echo got HUP; exit 5' HUP; trap 'echo got USR1; exit 4' USR1; trap 'echo got INT; exit 6' INT
echo ready; while :; do sleep 0.05; done`
	cases := []struct {
		name       string
		argv       []string
		sig        syscall.Signal
		wantLine   string
		wantCode   int
		wantSignal int
	}{
		{name: "SIGTERM kills the app", argv: []string{"sh", "-c", "echo ready; exec sleep 30"},
			sig: syscall.SIGTERM, wantCode: 143, wantSignal: 15},
		{name: "SIGQUIT kills the app", argv: []string{"sh", "-c", "echo ready; exec sleep 30"},
			sig: syscall.SIGQUIT, wantCode: 131, wantSignal: 3},
		{name: "SIGHUP trapped", argv: []string{"sh", "-c", script}, sig: syscall.SIGHUP, wantLine: "F got HUP", wantCode: 5},
		{name: "SIGUSR1 trapped", argv: []string{"sh", "-c", script}, sig: syscall.SIGUSR1, wantLine: "F got USR1", wantCode: 4},
		{name: "SIGINT trapped", argv: []string{"sh", "-c", script}, sig: syscall.SIGINT, wantLine: "F got INT", wantCode: 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPID1(t, nil, tc.argv...)
			p.waitForLog(t, "ready")
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t, 10*time.Second); code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			st := p.status(t)
			if st.ExitCode != tc.wantCode || st.Signal != tc.wantSignal {
				t.Errorf("exit status = %+v, want code %d signal %d", st, tc.wantCode, tc.wantSignal)
			}
			want := []string{"F ready"}
			if tc.wantLine != "" {
				want = append(want, tc.wantLine)
			}
			if got := lines(p.entries(t), crilog.Stdout); !equalLines(got, want) {
				t.Errorf("stdout entries = %q, want %q", got, want)
			}
		})
	}
}

func TestMainStartFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badInterp := filepath.Join(dir, "badinterp")
	if err := os.WriteFile(badInterp, []byte("#!/no/such/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		argv        []string
		wantCode    int
		wantMessage string
	}{
		{name: "not in PATH", argv: []string{"kubelet-lite-no-such-command"}, wantCode: 127,
			wantMessage: `exec "kubelet-lite-no-such-command": executable file not found in $PATH`},
		{name: "missing path", argv: []string{"/no/such/command"}, wantCode: 127,
			wantMessage: `exec "/no/such/command": no such file or directory`},
		{name: "missing interpreter", argv: []string{badInterp}, wantCode: 127,
			wantMessage: `exec "` + badInterp + `": no such file or directory (is its interpreter or dynamic loader missing?)`},
		{name: "not executable", argv: []string{plain}, wantCode: 126,
			wantMessage: `exec "` + plain + `": permission denied`},
		{name: "directory", argv: []string{dir}, wantCode: 126,
			wantMessage: `exec "` + dir + `": is a directory`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPID1(t, nil, tc.argv...)
			if code := p.wait(t, 10*time.Second); code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			st := p.status(t)
			if st.ExitCode != tc.wantCode || st.Message != tc.wantMessage {
				t.Errorf("exit status = %+v, want code %d message %q", st, tc.wantCode, tc.wantMessage)
			}
			want := []string{"F kubelet-lite pid1: " + tc.wantMessage}
			if got := lines(p.entries(t), crilog.Stderr); !equalLines(got, want) {
				t.Errorf("stderr entries = %q, want %q", got, want)
			}
		})
	}
}

func TestMainAppGetsNoAgentFds(t *testing.T) {
	t.Parallel()
	p := startPID1(t, nil, "sh", "-c", `(echo x >&3) 2>/dev/null || echo no fd 3; (echo y >&4) 2>/dev/null || echo no fd 4`)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if got, want := lines(p.entries(t), crilog.Stdout), []string{"F no fd 3", "F no fd 4"}; !equalLines(got, want) {
		t.Errorf("stdout entries = %q, want %q", got, want)
	}
}

func TestMainDrainIsBounded(t *testing.T) {
	t.Parallel()
	// An orphan keeps the stdout pipe open for 5 s after the app exits.
	p := startPID1(t, []string{"--drain-timeout=500ms"}, "sh", "-c", `echo $$; (sleep 5 &); echo done`)
	// A signal while draining must not kill pid1 (wait fails on a signal).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, err := os.Stat(filepath.Join(p.dir, "exit")); err == nil && st.Size() > 0 {
			break
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, 10*time.Second)
	elapsed := time.Since(p.started)
	es := p.entries(t)
	if len(es) > 0 {
		// The app ran in its own process group, which the orphan shares.
		if pgid, err := strconv.Atoi(string(es[0].Content)); err == nil && pgid > 1 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if elapsed > 3*time.Second {
		t.Errorf("pid1 took %v to exit, want the drain bounded near 500ms", elapsed)
	}
	if got := lines(es, crilog.Stdout); len(got) != 2 || got[1] != "F done" {
		t.Errorf("stdout entries = %q, want the pid and \"F done\"", got)
	}
}

func TestMainStreamsShareTheLogIntact(t *testing.T) {
	t.Parallel()
	// Both streams write at once; every entry must still be whole.
	p := startPID1(t, nil, "sh", "-c", `yes oooooooooo | head -n 20000 & yes eeeeeeeeee | head -n 20000 >&2; wait`)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	count := map[string]int{}
	for _, e := range p.entries(t) {
		count[fmt.Sprintf("%s %v %s", e.Stream, e.Partial, e.Content)]++
	}
	want := map[string]int{"stdout false oooooooooo": 20000, "stderr false eeeeeeeeee": 20000}
	if len(count) != len(want) || count["stdout false oooooooooo"] != 20000 || count["stderr false eeeeeeeeee"] != 20000 {
		t.Errorf("entries by content = %v, want %v", count, want)
	}
}
