//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The classic container failure cases of issue 6, each as a node behaviour
// measured from the kernel's files. The port conflict case is
// TestVMPodNetwork's "hostPort ... rejected" subtest (reason NodePorts
// naming the port); it is not repeated here.

// TestMACRefused runs pods that ask for AppArmor on a kernel without it:
// RuntimeDefault and Localhost are refused (phase Failed, reason AppArmor,
// "Cannot enforce AppArmor: AppArmor is not enabled on the host"), never
// run unconfined; Unconfined runs, and so do seLinuxOptions, which a node
// without SELinux ignores as upstream does.
func TestMACRefused(t *testing.T) {
	for _, f := range []string{"/sys/kernel/security/apparmor", "/sys/fs/selinux/enforce"} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s exists: this test needs a kernel without AppArmor and SELinux (the host and the node VM have neither)", f)
		}
	}
	a := newAgent(t)
	a.start()
	pod := func(name, podSC, ctrSC string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  securityContext: %s
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
    securityContext: %s
`, name, podSC, busybox, ctrSC)
	}
	refused := map[string]string{
		"aa-default":   pod("aa-default", "{}", "{appArmorProfile: {type: RuntimeDefault}}"),
		"aa-localhost": pod("aa-localhost", "{appArmorProfile: {type: Localhost, localhostProfile: k8s-deny-write}}", "{}"),
	}
	admitted := map[string]string{
		"aa-unconfined": pod("aa-unconfined", "{appArmorProfile: {type: Localhost, localhostProfile: k8s-deny-write}}", "{appArmorProfile: {type: Unconfined}}"),
		"selinux":       pod("selinux", "{seLinuxOptions: {level: 's0:c123,c456'}}", "{}"),
	}
	for name, y := range refused {
		a.writePod(name, y)
	}
	for name, y := range admitted {
		a.writePod(name, y)
	}
	for name := range admitted {
		a.waitContainer(name, "app", startTimeout, running)
	}
	const want = "AppArmor: Cannot enforce AppArmor: AppArmor is not enabled on the host"
	for name := range refused {
		var got string
		deadline := time.Now().Add(startTimeout)
		for time.Now().Before(deadline) && got == "" {
			if p, ok := a.pod(name); ok && p.Status != nil && p.Status.Phase == "Failed" {
				got = p.Status.Reason + ": " + p.Status.Message
				if len(p.Containers) > 0 {
					t.Errorf("%s: refused but has containers %+v", name, p.Containers)
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
		if got != want {
			t.Errorf("%s: status %q, want Failed %q", name, got, want)
		}
		t.Logf("%s: %s", name, got)
	}
}

// TestZombiesReaped runs a container whose shell orphans 300 short-lived
// children in waves — each `(sleep 0.1 &)` exits its subshell at once, so
// the sleep is reparented to the container's PID 1 — and then becomes a
// sleep that never waits for anything. Without a reaping PID 1 each would
// stay a zombie; kubelet-lite's init reaps them, so the container's PID
// namespace shows (almost) none while they die and none after.
func TestZombiesReaped(t *testing.T) {
	a := newAgent(t)
	a.start()
	const orphans = 300
	a.writePod("zombies", podYAML("zombies", "Always", 1, container("app",
		fmt.Sprintf(`i=0; while [ $i -lt %d ]; do (sleep 0.1 &); i=$((i+1)); [ $((i %% 20)) = 0 ] && sleep 0.2; done; touch /tmp/done; exec sleep 3600`, orphans), "")))
	c := a.waitContainer("zombies", "app", startTimeout, running)
	maxZombies, samples, adopted := 0, 0, 0
	deadline := time.Now().Add(3 * startTimeout)
	for {
		procs := fcProcs(t, a, c.PID)
		comm := map[int]string{}
		for _, p := range procs {
			comm[p.pid] = p.comm
		}
		z := 0
		for _, p := range procs {
			if p.state == "Z" {
				z++
			}
			// kubelet-lite's init runs as /.kubelet-lite/init.
			if p.comm == "sleep" && comm[p.ppid] == "init" {
				adopted++
			}
		}
		maxZombies, samples = max(maxZombies, z), samples+1
		if _, err := a.nsenter(c.PID, "test", "-e", "/tmp/done"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container did not finish orphaning %d children in %s", orphans, 3*startTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The last orphans sleep 0.1 s; give PID 1 generous time to reap them.
	var left []fcProc
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		left = nil
		for _, p := range fcProcs(t, a, c.PID) {
			if p.state == "Z" {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
	}
	t.Logf("%d orphans: %d samples while they died, at most %d zombies at once, orphaned sleeps seen as children of init %d times; zombies left after: %d",
		orphans, samples, maxZombies, adopted, len(left))
	if len(left) > 0 {
		t.Errorf("zombies left in the container's PID namespace: %+v", left)
	}
	if adopted == 0 {
		t.Errorf("no orphaned sleep was ever seen as a child of the container's init: the test did not orphan anything")
	}
	if maxZombies > 20 {
		t.Errorf("%d zombies at once: PID 1 does not keep up with reaping", maxZombies)
	}
	if st, _ := a.pod("zombies"); len(st.Containers) != 1 || st.Containers[0].State != "running" || st.Containers[0].Attempt != 0 {
		t.Errorf("container not running its first attempt after the storm: %+v", st.Containers)
	}
}

// fcProc is one process of a container's PID namespace, as its /proc shows.
type fcProc struct {
	pid, ppid   int
	state, comm string
}

// fcProcs lists the processes of the PID namespace of pid, read from the
// container's own /proc.
func fcProcs(t *testing.T, a *agent, pid int) []fcProc {
	t.Helper()
	out, err := a.nsenter(pid, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true")
	if err != nil {
		t.Fatalf("read the container's /proc: %v\n%s", err, out)
	}
	var procs []fcProc
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if open < 0 || end < open {
			continue
		}
		rest := strings.Fields(line[end+1:])
		if len(rest) < 2 {
			continue
		}
		p := fcProc{comm: line[open+1 : end], state: rest[0]}
		p.pid, _ = strconv.Atoi(strings.TrimSpace(line[:open]))
		p.ppid, _ = strconv.Atoi(rest[1])
		procs = append(procs, p)
	}
	if len(procs) == 0 {
		t.Fatalf("no processes in the container's /proc:\n%s", out)
	}
	return procs
}

// fcRequireVM fails a test that needs cgroup v2 outside the node VM.
func fcRequireVM(t *testing.T) {
	t.Helper()
	if os.Getenv("KL_NODEVM") == "" || !cgroupV2() {
		t.Fatalf("%s measures cgroup v2 files: it runs only in the node VM (hack/test.sh's vm level)", t.Name())
	}
}

// TestVMOOMKilled runs two pods past their memory limits on cgroup v2. In
// the first the container's own limit (32Mi) is the one hit: its pod's is
// 96Mi, with an idle second container. The second has one container whose
// 64Mi limit is also the pod's, and the sandbox process counts in the pod,
// so the pod's limit is hit first. Each is reported OOMKilled, 137, with a
// message that names the level and the memory peaks, as the cgroup files
// say.
func TestVMOOMKilled(t *testing.T) {
	fcRequireVM(t)
	a := newAgent(t)
	a.start()
	a.writePod("oom-ctr", podYAML("oom-ctr", "Never", 1,
		container("hog", "exec dd if=/dev/zero of=/dev/null bs=64M count=1", "      limits: {memory: 32Mi}\n")+
			container("idle", "exec sleep 3600", "      limits: {memory: 64Mi}\n")))
	a.writePod("oom-pod", podYAML("oom-pod", "Never", 1,
		container("hog", "exec dd if=/dev/zero of=/dev/null bs=128M count=1", "      limits: {memory: 64Mi}\n")))
	for _, tc := range []struct{ pod, level, limit string }{
		{"oom-ctr", "container", "33554432"},
		{"oom-pod", "pod", "67108864"},
	} {
		c := a.waitContainer(tc.pod, "hog", startTimeout, func(c containerState) bool { return c.State == "exited" })
		pod := filepath.Dir(c.Cgroup)
		podOOM := fieldValue(a.cgroupFile(pod, "memory.events.local"), "oom")
		kills := fieldValue(a.cgroupFile(pod, "memory.events"), "oom_kill")
		peak := a.cgroupFile(pod, "memory.peak")
		t.Logf("%s: %s %d: %q; pod cgroup: memory.max %s, memory.peak %s, memory.events.local oom %d, memory.events oom_kill %d",
			tc.pod, c.Reason, c.ExitCode, c.Message, a.cgroupFile(pod, "memory.max"), peak, podOOM, kills)
		if c.Reason != "OOMKilled" || c.ExitCode != 137 {
			t.Errorf("%s: exited %q %d, want OOMKilled 137", tc.pod, c.Reason, c.ExitCode)
		}
		if kills == 0 {
			t.Errorf("%s: the pod's memory.events counts no oom_kill", tc.pod)
		}
		if (podOOM > 0) != (tc.level == "pod") {
			t.Errorf("%s: the pod's memory.events.local oom = %d, want the %s's limit hit", tc.pod, podOOM, tc.level)
		}
		want := fmt.Sprintf("OOM killed: the %s's memory limit was hit (memory.max %s); memory.peak: container ", tc.level, tc.limit)
		if !strings.HasPrefix(c.Message, want) || !strings.HasSuffix(c.Message, ", pod "+peak) {
			t.Errorf("%s: message %q, want %q... ending in the pod's memory.peak %s", tc.pod, c.Message, want, peak)
		}
		// The peak of the level that hit its limit is at that limit (within
		// the pages reclaim freed meanwhile).
		if tc.level == "pod" {
			if n, _ := strconv.ParseInt(peak, 10, 64); n < 60<<20 {
				t.Errorf("%s: pod memory.peak %d, want about its limit 64Mi", tc.pod, n)
			}
		}
		if p, _ := a.pod(tc.pod); p.Status == nil || fcTerminated(p, "hog") != "OOMKilled" {
			t.Errorf("%s: reported status %+v, want container hog terminated OOMKilled", tc.pod, p.Status)
		}
	}
}

// fcTerminated is the terminated reason of a container in the pod's
// reported status, "" when it is not terminated.
func fcTerminated(p podState, name string) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name && cs.State.Terminated != nil {
			return cs.State.Terminated.Reason
		}
	}
	return ""
}

// TestVMForkBomb runs a fork bomb under --pod-pids-limit 64 on cgroup v2:
// it stops at pids.max (pids.events counts the refused forks), while a pod
// started before it keeps running and can still fork, and a pod started
// after it starts.
func TestVMForkBomb(t *testing.T) {
	fcRequireVM(t)
	a := newAgent(t, "--pod-pids-limit", "64")
	a.start()
	a.writePod("calm", podYAML("calm", "Always", 1, container("app", "exec sleep 3600", "")))
	calm := a.waitContainer("calm", "app", startTimeout, running)
	a.writePod("bomb", podYAML("bomb", "Always", 1, container("bomb", "b() { b | b & }; b & exec sleep 3600", "")))
	c := a.waitContainer("bomb", "bomb", startTimeout, running)
	pod := filepath.Dir(c.Cgroup)
	// Before Linux 6.2 a refused fork is counted in the pids.events of the
	// forking task's cgroup (the container's), not of the one whose
	// pids.max refused it (the pod's); look at both.
	refused := func() int64 {
		return fieldValue(a.cgroupFile(pod, "pids.events"), "max") + fieldValue(a.cgroupFile(c.Cgroup, "pids.events"), "max")
	}
	deadline := time.Now().Add(startTimeout)
	peak := 0
	for refused() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pids.events never counted a refused fork; the pod's pids.current peaked at %d", peak)
		}
		n, _ := strconv.Atoi(a.cgroupFile(pod, "pids.current"))
		peak = max(peak, n)
		time.Sleep(100 * time.Millisecond)
	}
	// Let it press against the limit a while, sampling pids.current.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		n, _ := strconv.Atoi(a.cgroupFile(pod, "pids.current"))
		peak = max(peak, n)
	}
	t.Logf("bomb pod: pids.max %s, pids.current peaked at %d; pids.events max: pod %d, container %d (refused forks)",
		a.cgroupFile(pod, "pids.max"), peak, fieldValue(a.cgroupFile(pod, "pids.events"), "max"), fieldValue(a.cgroupFile(c.Cgroup, "pids.events"), "max"))
	if peak > 64 {
		t.Errorf("pids.current %d above pids.max 64", peak)
	}
	out, err := a.nsenter(calm.PID, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true & done; wait; echo forked")
	if err != nil || !strings.Contains(out, "forked") {
		t.Errorf("the calm pod cannot fork while the bomb runs: %v %q", err, out)
	}
	calmPod := filepath.Dir(calm.Cgroup)
	if n := fieldValue(a.cgroupFile(calmPod, "pids.events"), "max"); n != 0 {
		t.Errorf("the calm pod's pids.events max = %d, want 0", n)
	}
	if st, _ := a.pod("calm"); len(st.Containers) != 1 || st.Containers[0].State != "running" || st.Containers[0].Attempt != 0 {
		t.Errorf("calm pod disturbed: %+v", st.Containers)
	}
	start := time.Now()
	a.writePod("after", podYAML("after", "Always", 1, container("app", "exec sleep 3600", "")))
	a.waitContainer("after", "app", startTimeout, running)
	t.Logf("a new pod started %s after the bomb hit pids.max; the calm pod forked: %q", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
}

// TestVMCPUHog runs busy loops on cgroup v2. A container limited to 200m
// is throttled to its cpu.max: cpu.stat's nr_throttled and throttled_usec
// grow and its usage over a window is about a fifth of a core. Then two
// pods that each keep both vCPUs busy, with cpu requests of 200m and 800m,
// share the contended CPUs as their cpu.weight (29 and 84 with runc's
// shares-to-weight conversion).
func TestVMCPUHog(t *testing.T) {
	fcRequireVM(t)
	a := newAgent(t)
	a.start()
	const window = 10 * time.Second

	a.writePod("spin", podYAML("spin", "Always", 1, container("spin", "while :; do :; done", "      limits: {cpu: 200m}\n")))
	c := a.waitContainer("spin", "spin", startTimeout, running)
	time.Sleep(2 * time.Second)
	s0, t0 := a.cgroupFile(c.Cgroup, "cpu.stat"), time.Now()
	time.Sleep(window)
	s1, t1 := a.cgroupFile(c.Cgroup, "cpu.stat"), time.Now()
	delta := func(key string) int64 { return fieldValue(s1, key) - fieldValue(s0, key) }
	share := float64(delta("usage_usec")) / float64(t1.Sub(t0).Microseconds())
	t.Logf("200m busy loop over %s: cpu.max %q, %.3f of a core, nr_periods +%d, nr_throttled +%d, throttled_usec +%d",
		t1.Sub(t0).Round(time.Millisecond), a.cgroupFile(c.Cgroup, "cpu.max"), share, delta("nr_periods"), delta("nr_throttled"), delta("throttled_usec"))
	if share < 0.1 || share > 0.3 {
		t.Errorf("the 200m busy loop used %.3f of a core, want about 0.2", share)
	}
	if delta("nr_throttled") == 0 || delta("throttled_usec") == 0 {
		t.Errorf("cpu.stat did not count throttling over the window")
	}
	a.removePod("spin")
	a.waitGone("spin", startTimeout)

	// Each pod runs two loops, so both keep both vCPUs busy.
	loops := "while :; do :; done & while :; do :; done"
	a.writePod("light", podYAML("light", "Always", 1, container("spin", loops, "      requests: {cpu: 200m}\n")))
	a.writePod("heavy", podYAML("heavy", "Always", 1, container("spin", loops, "      requests: {cpu: 800m}\n")))
	light := filepath.Dir(a.waitContainer("light", "spin", startTimeout, running).Cgroup)
	heavy := filepath.Dir(a.waitContainer("heavy", "spin", startTimeout, running).Cgroup)
	time.Sleep(3 * time.Second)
	l0, h0, t0 := a.cpuUsage(light), a.cpuUsage(heavy), time.Now()
	time.Sleep(window)
	l1, h1, t1 := a.cpuUsage(light), a.cpuUsage(heavy), time.Now()
	secs := t1.Sub(t0).Seconds()
	lc, hc := float64(l1-l0)/1e9/secs, float64(h1-h0)/1e9/secs
	lw, _ := strconv.ParseFloat(a.cgroupFile(light, "cpu.weight"), 64)
	hw, _ := strconv.ParseFloat(a.cgroupFile(heavy, "cpu.weight"), 64)
	ratio, want := hc/lc, hw/lw
	t.Logf("contended over %.1fs: light (cpu.weight %.0f) %.2f cores, heavy (cpu.weight %.0f) %.2f cores; usage ratio %.2f, weight ratio %.2f",
		secs, lw, lc, hw, hc, ratio, want)
	if lc+hc < 1.2 {
		t.Errorf("the two pods used %.2f cores together: the CPUs were not contended", lc+hc)
	}
	if want < 2 {
		t.Errorf("cpu.weight %.0f and %.0f for requests 200m and 800m: want the heavier at least twice the lighter", lw, hw)
	}
	if ratio < want/1.5 || ratio > want*1.5 {
		t.Errorf("heavy/light usage ratio %.2f, want about the weight ratio %.2f (within a factor of 1.5)", ratio, want)
	}
}
