//go:build integration

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// startExecPod starts a pod with one long-running container "app" (uid
// 1000, gid 2000, groups 3000, cwd /tmp, FOO=bar) on a fresh root.
func startExecPod(t *testing.T) (*Runtime, string, types.UID) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	uid := newUID()
	// Registered first, so it runs after the runtimes of the test closed.
	t.Cleanup(func() {
		r, err := New(Config{Root: root, Binary: agentBinary, CgroupRoot: cgroupRoot})
		if err != nil {
			t.Errorf("clean up pod: %v", err)
			return
		}
		defer r.Close()
		if err := r.RemoveSandbox(ctx, uid, 0); err != nil {
			t.Errorf("clean up pod: %v", err)
		}
	})
	r := newRuntime(t, root, newExits())
	if _, err := r.EnsureSandbox(ctx, podSpec(uid)); err != nil {
		t.Fatal(err)
	}
	spec := ctrSpec(t, uid, "app", "echo up; exec sleep 3600")
	spec.UID, spec.GID, spec.AdditionalGIDs = 1000, 2000, []uint32{3000}
	spec.WorkingDir = "/tmp"
	spec.Env = append(spec.Env, "FOO=bar")
	if _, err := r.StartContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitLog(t, spec.LogPath, "up", 10*time.Second)
	return r, root, uid
}

func TestExecOutputExitCodeAndStdin(t *testing.T) {
	r, _, uid := startExecPod(t)
	tests := []struct {
		name       string
		cmd        []string
		env        []string
		stdin      string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"container defaults", []string{"sh", "-c", "pwd; echo $FOO; id -u; id -g; id -G"}, nil, "",
			0, "/tmp\nbar\n1000\n2000\n2000 3000\n", ""},
		{"exit code and stderr", []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil, "",
			3, "out\n", "err\n"},
		{"extra env wins", []string{"sh", "-c", "echo $FOO $BAZ"}, []string{"FOO=over", "BAZ=1"}, "",
			0, "over 1\n", ""},
		{"stdin", []string{"sh", "-c", "read a; read b; echo got $b $a"}, nil, "one\ntwo\n",
			0, "got two one\n", ""},
		{"killed by a signal", []string{"sh", "-c", "kill -9 $$"}, nil, "", 137, "", ""},
		{"missing binary", []string{"/no/such"}, nil, "", -1, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			opts := ExecOptions{Cmd: tc.cmd, Env: tc.env, Stdout: &stdout, Stderr: &stderr}
			if tc.stdin != "" {
				opts.Stdin = strings.NewReader(tc.stdin)
			}
			code, err := r.Exec(context.Background(), uid, "app", opts)
			if tc.wantCode == -1 {
				if err == nil {
					t.Fatalf("Exec = %d, nil; want an error", code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || stdout.String() != tc.wantStdout || stderr.String() != tc.wantStderr {
				t.Errorf("Exec = %d, stdout %q, stderr %q; want %d, %q, %q",
					code, stdout.String(), stderr.String(), tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
	t.Run("one writer for both streams", func(t *testing.T) {
		var out bytes.Buffer
		code, err := r.Exec(context.Background(), uid, "app", ExecOptions{
			Cmd: []string{"sh", "-c", "echo a; echo b >&2; echo c"}, Stdout: &out, Stderr: &out})
		if err != nil || code != 0 || out.String() != "a\nb\nc\n" {
			t.Errorf("Exec = %d, %v, %q; want 0, nil, \"a\\nb\\nc\\n\"", code, err, out.String())
		}
	})
	t.Run("tty", func(t *testing.T) {
		var out bytes.Buffer
		code, err := r.Exec(context.Background(), uid, "app", ExecOptions{
			Cmd: []string{"sh", "-c", "tty; read x; echo got $x"}, TTY: true,
			Stdin: strings.NewReader("hi\n"), Stdout: &out})
		if err != nil || code != 0 {
			t.Fatalf("Exec = %d, %v", code, err)
		}
		if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "got hi\r\n") {
			t.Errorf("tty output %q, want the echoed input, /dev/pts/N and \"got hi\\r\\n\"", out.String())
		}
	})
}

func TestExecTimeoutLeavesNothing(t *testing.T) {
	r, root, uid := startExecPod(t)
	procs := cgroupProcs(t, root, uid, "app")
	before := len(procs)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	var out bytes.Buffer
	// A tree: sh, a background sleep holding the output, a foreground one.
	code, err := r.Exec(ctx, uid, "app", ExecOptions{
		Cmd: []string{"sh", "-c", "sleep 1001 & echo started; sleep 1002; echo never"}, Stdout: &out})
	if !errors.Is(err, context.DeadlineExceeded) || code != 137 {
		t.Errorf("Exec = %d, %v; want 137, deadline exceeded", code, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Exec returned after %s, want soon after the 500ms deadline", d)
	}
	if out.String() != "started\n" {
		t.Errorf("output %q, want \"started\\n\"", out.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := cgroupProcs(t, root, uid, "app")
		if len(now) == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup.procs has %d processes %v, want %d as before the exec", len(now), now, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if z := zombieChildren(); len(z) > 0 {
		t.Errorf("zombie children of the test process: %v", z)
	}
}

func TestExecErrorsAndRestart(t *testing.T) {
	r, root, uid := startExecPod(t)
	ctx := context.Background()
	if _, err := r.Exec(ctx, uid, "nope", ExecOptions{Cmd: []string{"true"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("exec in unknown container: %v, want ErrNotFound", err)
	}
	if _, err := r.Exec(ctx, "it-unknown", "app", ExecOptions{Cmd: []string{"true"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("exec in unknown pod: %v, want ErrNotFound", err)
	}
	done := ctrSpec(t, uid, "done", "exit 0")
	if _, err := r.StartContainer(ctx, done); err != nil {
		t.Fatal(err)
	}
	waitExited(t, r, uid, "done")
	if _, err := r.Exec(ctx, uid, "done", ExecOptions{Cmd: []string{"true"}}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("exec in exited container: %v, want ErrNotRunning", err)
	}

	r.Close() // the agent restarts
	r2 := newRuntime(t, root, nil)
	var out bytes.Buffer
	code, err := r2.Exec(ctx, uid, "app", ExecOptions{Cmd: []string{"sh", "-c", "echo $FOO; exit 5"}, Stdout: &out})
	if err != nil || code != 5 || out.String() != "bar\n" {
		t.Errorf("exec after restart = %d, %v, %q; want 5, nil, \"bar\\n\"", code, err, out.String())
	}
}

// waitExited waits for a container's PID 1 to be gone.
func waitExited(t *testing.T, r *Runtime, uid types.UID, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := r.ContainerStatus(uid, name)
		if err == nil && s.State == StateExited {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s (%v)", name, s.State, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cgroupProcs lists the processes in a container's cgroup (memory
// controller on v1, the unified tree on v2).
func cgroupProcs(t *testing.T, root string, uid types.UID, name string) []string {
	t.Helper()
	var meta containerRecord
	if err := readJSON(filepath.Join(root, "pods", string(uid), "containers", name, metaFile), &meta); err != nil {
		t.Fatal(err)
	}
	dir, ok := meta.CgroupPaths["memory"]
	if !ok {
		dir = meta.CgroupPaths[""]
	}
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}
