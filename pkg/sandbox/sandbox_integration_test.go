//go:build integration

package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"k8s.io/apimachinery/pkg/types"
)

func TestPodNamespacesCgroupsAndRemoval(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	e := newExits()
	r := newRuntime(t, root, e)
	uid := newUID()
	t0 := time.Now()
	spid, err := r.EnsureSandbox(ctx, podSpec(uid))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EnsureSandbox took %s", time.Since(t0))
	removed := false
	t.Cleanup(func() {
		if !removed {
			r.RemoveSandbox(ctx, uid, 0)
		}
	})
	if again, err := r.EnsureSandbox(ctx, podSpec(uid)); err != nil || again != spid {
		t.Fatalf("EnsureSandbox again = %d, %v; want %d", again, err, spid)
	}
	// nc's stdin stays open, or it may quit on stdin EOF before the client's data.
	server := ctrSpec(t, uid, "server", "hostname; ps -o pid,comm; echo ready; sleep 60 | nc -l -p 8080; sleep 3600")
	server.Cgroup.Resources.CPUQuota = 50000
	server.Cgroup.Resources.MemoryMax = 64 << 20
	t0 = time.Now()
	srv, err := r.StartContainer(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartContainer took %s", time.Since(t0))
	waitLog(t, server.LogPath, "ready", 10*time.Second)
	client := ctrSpec(t, uid, "client",
		"for i in $(seq 100); do echo ping-from-client | nc 127.0.0.1 8080 && break; sleep 0.1; done; echo sent; sleep 3600")
	cli, err := r.StartContainer(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	waitLog(t, client.LogPath, "sent", 10*time.Second)
	text := waitLog(t, server.LogPath, "ping-from-client", 5*time.Second)

	t.Run("hostname is the pod's", func(t *testing.T) {
		if first := strings.SplitN(text, "\n", 2)[0]; first != "web-host" {
			t.Errorf("hostname = %q, want web-host", first)
		}
	})
	t.Run("host processes are invisible", func(t *testing.T) { checkOwnProcessesOnly(t, text) })
	t.Run("namespaces", func(t *testing.T) {
		for _, ns := range []string{"net", "ipc", "uts"} {
			s, c, p := nsInode(t, srv.PID, ns), nsInode(t, cli.PID, ns), nsInode(t, spid, ns)
			if s != c || s != p {
				t.Errorf("%s: server %s, client %s, sandbox %s; want one", ns, s, c, p)
			}
			if h := nsInode(t, os.Getpid(), ns); s == h {
				t.Errorf("%s: container shares the host's %s", ns, h)
			}
		}
		for _, ns := range []string{"pid", "mnt", "cgroup"} {
			if s, c := nsInode(t, srv.PID, ns), nsInode(t, cli.PID, ns); s == c {
				t.Errorf("%s: server and client share %s", ns, s)
			}
		}
	})
	t.Run("cgroup values", func(t *testing.T) { checkCgroupValues(t, uid, "server") })
	t.Run("list pods", func(t *testing.T) {
		pods, err := r.ListPods()
		if err != nil || len(pods) != 1 {
			t.Fatalf("ListPods = %v, %v", pods, err)
		}
		p := pods[0]
		if p.SandboxPID != spid || len(p.Containers) != 2 || p.Containers[0].Name != "client" ||
			p.Containers[1].State != StateRunning || p.Containers[1].PID != srv.PID {
			t.Errorf("ListPods = %+v", p)
		}
	})

	start := time.Now()
	removed = true
	if err := r.RemoveSandbox(ctx, uid, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("RemoveSandbox took %s; SIGTERM should end sh at once", d)
	}
	assertNoTraces(t, root, uid, "server", "client")
	if _, err := r.ContainerStatus(uid, "server"); !errors.Is(err, ErrNotFound) {
		t.Errorf("status after removal: %v, want ErrNotFound", err)
	}
	if err := r.RemoveSandbox(ctx, uid, time.Second); err != nil {
		t.Errorf("second RemoveSandbox: %v", err)
	}
}

func TestExitCodesAndOOM(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	e := newExits()
	r := newRuntime(t, root, e)
	uid := newUID()
	if _, err := r.EnsureSandbox(ctx, podSpec(uid)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.RemoveSandbox(ctx, uid, 0) })
	oom := ctrSpec(t, uid, "oom", "head -c 64m /dev/zero | tail")
	oom.Cgroup.Resources.MemoryMax = 16 << 20
	tests := []struct {
		name       string
		spec       ContainerSpec
		wantCode   int
		wantReason string
	}{
		{"completed", ctrSpec(t, uid, "ok", "echo done"), 0, ReasonCompleted},
		{"error", ctrSpec(t, uid, "fail", "exit 3"), 3, ReasonError},
		{"missing executable", ctrSpec(t, uid, "missing", ""), 127, ReasonError},
		{"oom killed", oom, 137, ReasonOOMKilled},
	}
	tests[2].spec.Args = []string{"/no/such/binary"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.StartContainer(ctx, tc.spec); err != nil {
				t.Fatal(err)
			}
			e.wait(t, uid, tc.spec.Name, 20*time.Second)
			s, err := r.ContainerStatus(uid, tc.spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if s.State != StateExited || s.ExitCode != tc.wantCode || s.Reason != tc.wantReason {
				t.Errorf("status = %s %d %q (%s), want exited %d %q", s.State, s.ExitCode, s.Reason, s.Message, tc.wantCode, tc.wantReason)
			}
			if s.FinishedAt.Before(s.StartedAt) || s.StartedAt.IsZero() {
				t.Errorf("times: started %s finished %s", s.StartedAt, s.FinishedAt)
			}
		})
	}
	t.Run("restart replaces the exited container", func(t *testing.T) {
		spec := ctrSpec(t, uid, "fail", "exit 4")
		spec.Attempt = 1
		s, err := r.StartContainer(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != string(uid)+".fail.1" || s.Attempt != 1 {
			t.Errorf("new attempt: id %s attempt %d", s.ID, s.Attempt)
		}
		e.wait(t, uid, "fail", 10*time.Second)
		if s, _ := r.ContainerStatus(uid, "fail"); s.ExitCode != 4 {
			t.Errorf("exit code = %d, want 4", s.ExitCode)
		}
		if _, err := os.Stat(filepath.Join(root, "libcontainer", string(uid)+".fail.0")); !os.IsNotExist(err) {
			t.Errorf("attempt 0 not destroyed: %v", err)
		}
	})
}

func TestStopContainerGrace(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	r := newRuntime(t, root, newExits())
	uid := newUID()
	if _, err := r.EnsureSandbox(ctx, podSpec(uid)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.RemoveSandbox(ctx, uid, 0) })
	tests := []struct {
		name     string
		script   string
		minTime  time.Duration
		maxTime  time.Duration
		wantCode int
	}{
		{"handles TERM", `trap "exit 0" TERM; echo up; while true; do sleep 0.1; done`, 0, 1500 * time.Millisecond, 0},
		{"ignores TERM", `trap "" TERM; echo up; while true; do sleep 0.1; done`, 1500 * time.Millisecond, 5 * time.Second, 137},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := ctrSpec(t, uid, "c"+strconv.Itoa(i), tc.script)
			if _, err := r.StartContainer(ctx, spec); err != nil {
				t.Fatal(err)
			}
			waitLog(t, spec.LogPath, "up", 10*time.Second)
			start := time.Now()
			if err := r.StopContainer(ctx, uid, spec.Name, 1500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < tc.minTime || d > tc.maxTime {
				t.Errorf("stop took %s, want %s..%s", d, tc.minTime, tc.maxTime)
			}
			s, err := r.ContainerStatus(uid, spec.Name)
			if err != nil || s.State != StateExited || s.ExitCode != tc.wantCode {
				t.Errorf("status = %+v, %v; want exited %d", s, err, tc.wantCode)
			}
			if err := r.StopContainer(ctx, uid, spec.Name, time.Second); err != nil {
				t.Errorf("second stop: %v", err)
			}
		})
	}
}

func TestAgentRestart(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	uid := newUID()
	r1, err := New(Config{Root: root, Binary: agentBinary, CgroupRoot: cgroupRoot})
	if err != nil {
		t.Fatal(err)
	}
	spid, err := r1.EnsureSandbox(ctx, podSpec(uid))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after a failure; the test removes the pod itself
		if r, err := New(Config{Root: root, Binary: agentBinary, CgroupRoot: cgroupRoot}); err == nil {
			r.RemoveSandbox(ctx, uid, 0)
			r.Close()
		}
	})
	script := "echo up; while [ ! -e /tmp/stop-$0 ]; do sleep 0.1; done; exit 7"
	a, b := ctrSpec(t, uid, "a", script), ctrSpec(t, uid, "b", script)
	a.Args, b.Args = append(a.Args, "a"), append(b.Args, "b")
	for _, s := range []ContainerSpec{a, b} {
		if _, err := r1.StartContainer(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitLog(t, s.LogPath, "up", 10*time.Second)
	}
	r1.Close() // the agent "dies"; its containers keep running

	ro := newRuntime(t, root, nil) // e.g. `kubelet-lite ps`: nobody owns the root now
	ro.Close()
	e := newExits()
	r2 := newRuntime(t, root, e)
	t.Run("a second runtime while one owns the root is refused or read-only", func(t *testing.T) { checkReadOnly(t, root, uid) })
	t.Run("running containers are found", func(t *testing.T) {
		pods, err := r2.ListPods()
		if err != nil || len(pods) != 1 || pods[0].SandboxPID != spid || len(pods[0].Containers) != 2 {
			t.Fatalf("ListPods = %+v, %v", pods, err)
		}
		for _, c := range pods[0].Containers {
			if c.State != StateRunning {
				t.Errorf("%s: %s, want running", c.Name, c.State)
			}
		}
	})
	stop := func(name string) {
		t.Helper()
		f := filepath.Join(root, "pods", string(uid), "containers", name, "rootfs", "tmp", "stop-"+name)
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("exit is seen after restart", func(t *testing.T) {
		stop("a")
		e.wait(t, uid, "a", 10*time.Second)
		if s, err := r2.ContainerStatus(uid, "a"); err != nil || s.State != StateExited || s.ExitCode != 7 {
			t.Errorf("status = %+v, %v; want exited 7", s, err)
		}
	})
	t.Run("exit while no agent runs is recorded", func(t *testing.T) {
		r2.Close()
		stop("b")
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, err := r2.ContainerStatus(uid, "b") // reading works on a closed runtime
			if err == nil && s.State == StateExited {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("b did not exit: %+v, %v", s, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		e3 := newExits()
		r3 := newRuntime(t, root, e3)
		e3.wait(t, uid, "b", 5*time.Second)
		if s, err := r3.ContainerStatus(uid, "b"); err != nil || s.ExitCode != 7 || s.Reason != ReasonError {
			t.Errorf("status = %+v, %v; want exited 7 Error", s, err)
		}
		if _, err := os.Stat(filepath.Join(root, "pods", string(uid), "containers", "b", finalFile)); err != nil {
			t.Errorf("exit not recorded: %v", err)
		}
		if err := r3.RemoveSandbox(ctx, uid, time.Second); err != nil {
			t.Fatal(err)
		}
		assertNoTraces(t, root, uid, "a", "b")
	})
}

func TestPodNamespaceOptions(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	r := newRuntime(t, root, newExits())
	host := func(ns string) string { return nsInode(t, os.Getpid(), ns) }
	tests := []struct {
		name string
		pod  func(SandboxSpec) SandboxSpec
		// check gets the sandbox's and the container's PIDs and the container's log.
		check func(t *testing.T, spid, cpid int, log string)
	}{
		{
			name: "share process namespace",
			pod:  func(s SandboxSpec) SandboxSpec { s.ShareProcessNamespace = true; return s },
			check: func(t *testing.T, spid, cpid int, log string) {
				if nsInode(t, spid, "pid") != nsInode(t, cpid, "pid") {
					t.Errorf("container does not share the sandbox's pid namespace")
				}
				if !strings.Contains(log, " 1 /.kubelet-lite/init pause\n") {
					t.Errorf("ps in the container does not show the pause process as PID 1:\n%s", log)
				}
			},
		},
		{
			name: "host network and ipc",
			pod:  func(s SandboxSpec) SandboxSpec { s.HostNetwork, s.HostIPC = true, true; return s },
			check: func(t *testing.T, spid, cpid int, log string) {
				for _, ns := range []string{"net", "ipc", "uts"} {
					if got := nsInode(t, cpid, ns); got != host(ns) {
						t.Errorf("%s = %s, want the host's %s", ns, got, host(ns))
					}
				}
				if nsInode(t, cpid, "pid") == nsInode(t, spid, "pid") {
					t.Errorf("container shares the sandbox's pid namespace")
				}
			},
		},
		{
			name: "host pid",
			pod:  func(s SandboxSpec) SandboxSpec { s.HostPID = true; return s },
			check: func(t *testing.T, spid, cpid int, log string) {
				if got := nsInode(t, cpid, "pid"); got != host("pid") {
					t.Errorf("pid = %s, want the host's %s", got, host("pid"))
				}
				if nsInode(t, cpid, "net") == host("net") {
					t.Errorf("a hostPID container has the host's network namespace")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uid := newUID()
			spid, err := r.EnsureSandbox(ctx, tc.pod(podSpec(uid)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := r.RemoveSandbox(ctx, uid, 0); err != nil {
					t.Error(err)
				}
				assertNoTraces(t, root, uid, "c")
			})
			spec := ctrSpec(t, uid, "c", "ps -o pid,args; echo listed; sleep 3600")
			s, err := r.StartContainer(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, spid, s.PID, waitLog(t, spec.LogPath, "listed", 10*time.Second))
		})
	}
	t.Run("agent binary must be static", func(t *testing.T) {
		if err := checkStatic(agentBinary); err != nil {
			t.Errorf("checkStatic(agent) = %v", err)
		}
		if err := checkStatic("/bin/ls"); err == nil {
			t.Errorf("checkStatic(/bin/ls) = nil, want an error for a dynamic binary")
		}
	})
}

// checkOwnProcessesOnly checks the output of `ps -o pid,comm` in a container.
func checkOwnProcessesOnly(t *testing.T, text string) {
	var pids []string
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] != "PID" {
			pids = append(pids, f[0])
		}
	}
	if len(pids) < 2 || len(pids) > 4 || pids[0] != "1" {
		t.Errorf("ps in the container shows pids %v, want 1 and its own few:\n%s", pids, text)
	}
}

// checkCgroupValues checks the cpu quota 50000 and memory limit 64Mi of a
// container's cgroup.
func checkCgroupValues(t *testing.T, uid types.UID, name string) {
	file := func(ctrl, f string) string {
		if cgroups.IsCgroup2UnifiedMode() {
			ctrl = ""
		}
		return filepath.Join("/sys/fs/cgroup", ctrl, cgroupRoot, podCgroup(uid), name, f)
	}
	want := map[string]string{file("cpu", "cpu.cfs_quota_us"): "50000", file("memory", "memory.limit_in_bytes"): "67108864"}
	if cgroups.IsCgroup2UnifiedMode() {
		want = map[string]string{file("", "cpu.max"): "50000 100000", file("", "memory.max"): "67108864"}
	}
	for f, v := range want {
		got, err := os.ReadFile(f)
		if err != nil || strings.TrimSpace(string(got)) != v {
			t.Errorf("%s = %q, %v; want %s", f, got, err, v)
		}
	}
}

// checkReadOnly opens a second Runtime on a root another one owns: a
// writer is refused, a reader only reads.
func checkReadOnly(t *testing.T, root string, uid types.UID) {
	if _, err := New(Config{Root: root, Binary: agentBinary, CgroupRoot: cgroupRoot}); !errors.Is(err, ErrRootInUse) {
		t.Errorf("a second owner of the root: %v, want ErrRootInUse", err)
	}
	ro, err := New(Config{Root: root, Binary: agentBinary, CgroupRoot: cgroupRoot, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.EnsureSandbox(context.Background(), podSpec(uid)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("EnsureSandbox on a read-only runtime: %v, want ErrReadOnly", err)
	}
	if pods, err := ro.ListPods(); err != nil || len(pods) != 1 || len(pods[0].Containers) != 2 {
		t.Errorf("ListPods on a read-only runtime = %+v, %v", pods, err)
	}
}
