//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// shmKey is the System V shared memory key the IPC test uses.
const shmKey = 0x4b4c

func TestMain(m *testing.M) {
	// Helper modes, run in a container's IPC namespace through nsenter.
	switch os.Getenv("KL_E2E_SHM") {
	case "write":
		os.Exit(shmWrite())
	case "read":
		os.Exit(shmRead())
	}
	os.Exit(m.Run())
}

func shmWrite() int {
	id, err := unix.SysvShmGet(shmKey, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	copy(b, "kubelet-lite shared memory")
	return 0
}

func shmRead() int {
	id, err := unix.SysvShmGet(shmKey, 4096, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(strings.TrimRight(string(b[:64]), "\x00"))
	_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	return 0
}

func nsInode(t *testing.T, pid int, ns string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// TestPodNamespaces checks that two containers of a pod share NET, IPC and
// UTS and nothing else, talk over localhost and System V shared memory, have
// the pod's name as hostname and see no host process.
func TestPodNamespaces(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("pair", podYAML("pair", "Always", 1,
		container("server", "while true; do echo hello-from-server | nc -l -p 5000; done", "")+
			container("client", "sleep 3600", "")))
	server := a.waitContainer("pair", "server", startTimeout, running)
	client := a.waitContainer("pair", "client", startTimeout, running)
	for ns, same := range map[string]bool{"net": true, "ipc": true, "uts": true, "pid": false, "mnt": false} {
		s, c := nsInode(t, server.PID, ns), nsInode(t, client.PID, ns)
		if (s == c) != same {
			t.Errorf("%s namespace: server %s client %s, want shared=%v", ns, s, c, same)
		}
		if host := nsInode(t, os.Getpid(), ns); s == host {
			t.Errorf("%s namespace is the host's", ns)
		}
	}
	if out, err := a.nsenter(client.PID, "hostname"); err != nil || strings.TrimSpace(out) != "pair-"+a.node {
		t.Errorf("hostname = %q (%v), want pair-%s", out, err, a.node)
	}
	var got string
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		out, err := a.nsenter(client.PID, "sh", "-c", "nc 127.0.0.1 5000 </dev/null")
		if got = strings.TrimSpace(out); err == nil && got == "hello-from-server" {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got != "hello-from-server" {
		t.Errorf("client read %q over localhost, want hello-from-server", got)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shm := func(pid int, mode string) string {
		cmd := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-i", "--", self)
		cmd.Env = append(os.Environ(), "KL_E2E_SHM="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("shm %s in %d: %v: %s", mode, pid, err, out)
		}
		return string(out)
	}
	shm(server.PID, "write")
	if got := shm(client.PID, "read"); got != "kubelet-lite shared memory" {
		t.Errorf("client read %q from System V shm, want what the server wrote", got)
	}
	out, err := a.nsenter(client.PID, "ps", "-o", "pid,comm")
	if err != nil {
		t.Fatalf("ps in container: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(lines) > 4 {
		t.Errorf("container sees %d processes, want only its own (pid1, sleep, ps):\n%s", len(lines), out)
	}
	if strings.Contains(out, "kubelet-lite run") || strings.Contains(out, "e2e.test") {
		t.Errorf("container sees host processes:\n%s", out)
	}
}

// TestNoZombies lets a container's main process orphan 100 children that
// exit; its PID 1 reaps them all.
func TestNoZombies(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("orphans", podYAML("orphans", "Always", 1, container("app",
		"for i in $(seq 100); do (sleep 0.5 &); done; echo spawned; sleep 3600", "")))
	c := a.waitContainer("orphans", "app", startTimeout, running)
	// Wait until the script has spawned them all, then 2 s more.
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(readLog(c.LogPath), "spawned") {
		if time.Now().After(deadline) {
			t.Fatalf("the script never finished spawning; log %q", readLog(c.LogPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	procs := strings.Fields(a.cgroupFileAny(c.Cgroup, "cgroup.procs"))
	zombies := 0
	for _, p := range procs {
		stat, err := os.ReadFile("/proc/" + p + "/stat")
		if err != nil {
			continue
		}
		// The state follows the ")" that closes the command name.
		if s := string(stat); strings.HasPrefix(strings.TrimSpace(s[strings.LastIndex(s, ")")+1:]), "Z") {
			zombies++
		}
	}
	if zombies > 0 {
		t.Errorf("%d zombies among the container's %d processes", zombies, len(procs))
	}
	if len(procs) > 3 {
		t.Errorf("container still has %d processes, want pid1, sh and sleep", len(procs))
	}
}

// cgroupFileAny reads a file every hierarchy has (cgroup.procs): the pids
// one on v1.
func (a *agent) cgroupFileAny(rel, file string) string {
	if cgroupV2() {
		return a.cgroupFile(rel, file)
	}
	b, err := os.ReadFile("/sys/fs/cgroup/pids" + a.cgroupRoot + "/" + rel + "/" + file)
	if err != nil {
		a.t.Fatal(err)
	}
	return string(b)
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestManifestLifecycle: a new file starts a pod, a changed file replaces
// it, a removed file stops it with SIGTERM, then SIGKILL after the grace
// period; restartPolicy backs off as upstream does.
func TestManifestLifecycle(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("life", podYAML("life", "Always", 3, container("app", "trap '' TERM; echo v1; while true; do sleep 1; done", "")))
	v1 := a.waitContainer("life", "app", startTimeout, running)
	first, _ := a.pod("life")
	a.writePod("life", podYAML("life", "Always", 3, container("app", "trap '' TERM; echo v2; while true; do sleep 1; done", "")))
	deadline := time.Now().Add(startTimeout)
	for {
		p, ok := a.pod("life")
		if ok && p.UID != first.UID {
			if c, ok := p.container("app"); ok && running(c) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("changed manifest did not replace the pod\n%s", a.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The old pod ignores SIGTERM too: it goes after its grace period.
	for deadline := time.Now().Add(startTimeout); unixKill0(v1.PID) == nil; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the old pod's container %d still runs", v1.PID)
		}
	}
	// The container ignores SIGTERM: removal waits the 3 s grace period.
	start := time.Now()
	a.removePod("life")
	a.waitGone("life", startTimeout)
	took := time.Since(start)
	t.Logf("a pod ignoring SIGTERM with a 3 s grace period was removed in %s", took.Round(time.Millisecond))
	if took < 3*time.Second {
		t.Errorf("removal took %s, less than the 3 s grace period", took)
	}

	// A container that exits at once restarts at once, then after 10 s.
	a.writePod("crash", podYAML("crash", "Always", 1, container("app", "exit 3", "")))
	c1 := a.waitContainer("crash", "app", startTimeout, func(c containerState) bool { return c.Attempt == 1 && c.State == "exited" })
	c2 := a.waitContainer("crash", "app", startTimeout, func(c containerState) bool { return c.Attempt == 2 && !c.StartedAt.IsZero() })
	gap := c2.StartedAt.Sub(c1.FinishedAt)
	t.Logf("restart 1 → 2 waited %s", gap.Round(time.Millisecond))
	if gap < 9*time.Second || gap > 20*time.Second {
		t.Errorf("second restart came %s after the first exit, want about 10 s of backoff", gap)
	}
	if c1.ExitCode != 3 || c1.Reason != "Error" {
		t.Errorf("exit = %d %q, want 3 Error", c1.ExitCode, c1.Reason)
	}
}

func unixKill0(pid int) error { return unix.Kill(pid, 0) }

// TestBadPods: a pod whose image is absent under pull policy Never, one
// whose limit is below its request and one whose host port is taken leave
// the agent and other pods running and say why in their status and the log.
func TestBadPods(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("ghost", `apiVersion: v1
kind: Pod
metadata: {name: ghost}
spec:
  containers:
  - {name: app, image: kubelet-lite.local/nope:v1, imagePullPolicy: Never}
`)
	a.writePod("bad", podYAML("bad", "Always", 1, container("app", "sleep 3600",
		"      requests: {memory: 32Mi}\n      limits: {memory: 16Mi}\n")))
	hostPort := "    ports: [{containerPort: 80, hostPort: 18080}]\n"
	a.writePod("port-a", podYAML("port-a", "Always", 1, container("app", "sleep 3600", "")+hostPort))
	a.writePod("port-b", podYAML("port-b", "Always", 1, container("app", "sleep 3600", "")+hostPort))
	a.writePod("fine", podYAML("fine", "Always", 1, container("app", "sleep 3600", "")))
	a.waitContainer("fine", "app", startTimeout, running)
	a.waitContainer("port-a", "app", startTimeout, running)
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(200 * time.Millisecond) {
		b, ok := a.pod("port-b")
		if ok && b.Status != nil && b.Status.Phase == corev1.PodFailed {
			if b.Status.Reason != "NodePorts" || !strings.Contains(b.Status.Message, "TCP port 18080 is in use") || len(b.Containers) != 0 {
				t.Errorf("port-b: reason %q message %q containers %d; want NodePorts, port 18080 in use, nothing started", b.Status.Reason, b.Status.Message, len(b.Containers))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port-b never rejected: %+v", b)
		}
	}
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(200 * time.Millisecond) {
		bad, ok := a.pod("bad")
		if ok && bad.Status != nil && bad.Status.Phase == corev1.PodFailed {
			wantMsg := `container "app": resources.limits.memory (16Mi) is below resources.requests.memory (32Mi)`
			if bad.Status.Reason != "InvalidPodSpec" || !strings.Contains(bad.Status.Message, wantMsg) {
				t.Errorf("bad pod: reason %q message %q; want InvalidPodSpec saying %q", bad.Status.Reason, bad.Status.Message, wantMsg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bad pod never reported Failed: %+v\n%s", bad, a.log())
		}
	}
	want := `is not present with pull policy Never`
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(a.log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("agent log never said %q\n%s", want, a.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !a.alive() {
		t.Fatal("agent died")
	}
	ghost, ok := a.pod("ghost")
	if !ok || ghost.Status == nil || len(ghost.Status.ContainerStatuses) != 1 {
		t.Fatalf("ghost pod status = %+v, want one container status", ghost)
	}
	st := ghost.Status
	if w := st.ContainerStatuses[0].State.Waiting; st.Phase != corev1.PodPending || w == nil || w.Reason != "ErrImageNeverPull" || !strings.Contains(w.Message, want) {
		t.Errorf("ghost pod: phase %s, container state %+v; want Pending, waiting ErrImageNeverPull saying %q", st.Phase, st.ContainerStatuses[0].State, want)
	}
}
