//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds every wait for a pod; the node VM is 10–25× slower
// than the host.
var startTimeout = func() time.Duration {
	if os.Getenv("KL_NODEVM") != "" {
		return 120 * time.Second
	}
	return 30 * time.Second
}()

func podYAML(name, restart string, grace int, containers string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: %d
  containers:
%s`, name, restart, grace, containers)
}

func container(name, script, resources string) string {
	c := fmt.Sprintf(`  - name: %s
    image: %s
    command: ["sh", "-c", %q]
`, name, busybox, script)
	if resources != "" {
		c += "    resources:\n" + resources
	}
	return c
}

const limits500m64Mi = `      requests: {cpu: 500m, memory: 64Mi}
      limits: {cpu: 500m, memory: 64Mi}
`

// TestResourceLimits checks the cgroup files of a pod with cpu 500m and
// memory 64Mi limits under a pod pids limit of 64.
func TestResourceLimits(t *testing.T) {
	a := newAgent(t, "--pod-pids-limit", "64")
	a.start()
	a.writePod("limits", podYAML("limits", "Always", 2, container("app", "sleep 3600", limits500m64Mi)))
	c := a.waitContainer("limits", "app", startTimeout, running)
	if p, _ := a.pod("limits"); p.Status == nil || p.Status.Phase != "Running" || p.Status.QOSClass != "Guaranteed" {
		t.Errorf("reported status %+v, want phase Running and QoS Guaranteed", p.Status)
	}
	pod := filepath.Dir(c.Cgroup)
	if !strings.HasPrefix(pod, "kubepods/pod") {
		t.Errorf("Guaranteed pod cgroup = %s, want kubepods/pod<uid>", pod)
	}
	type check struct{ rel, file, want string }
	var checks []check
	if cgroupV2() {
		checks = []check{
			{pod, "cpu.max", "50000 100000"}, {pod, "memory.max", "67108864"}, {pod, "pids.max", "64"}, {pod, "cpu.weight", "59"},
			{c.Cgroup, "cpu.max", "50000 100000"}, {c.Cgroup, "memory.max", "67108864"}, {c.Cgroup, "cpu.weight", "59"},
			{c.Cgroup, "memory.oom.group", "1"},
		}
	} else {
		checks = []check{
			{pod, "cpu.cfs_quota_us", "50000"}, {pod, "cpu.cfs_period_us", "100000"}, {pod, "memory.limit_in_bytes", "67108864"},
			{pod, "pids.max", "64"}, {pod, "cpu.shares", "512"},
			{c.Cgroup, "cpu.cfs_quota_us", "50000"}, {c.Cgroup, "memory.limit_in_bytes", "67108864"}, {c.Cgroup, "cpu.shares", "512"},
		}
	}
	for _, ch := range checks {
		if got := a.cgroupFile(ch.rel, ch.file); got != ch.want {
			t.Errorf("%s/%s = %q, want %q", ch.rel, ch.file, got, ch.want)
		}
	}
}

// TestOOMKilled allocates 128 MiB under a 64 MiB limit and expects the agent
// to record reason OOMKilled from the cgroup's OOM kill count.
func TestOOMKilled(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("oom", podYAML("oom", "Never", 2,
		container("hog", "exec dd if=/dev/zero of=/dev/null bs=128M count=1", limits500m64Mi)))
	c := a.waitContainer("oom", "hog", startTimeout, func(c containerState) bool { return c.State == "exited" })
	if c.Reason != "OOMKilled" || c.ExitCode != 137 {
		t.Errorf("exited with reason %q code %d, want OOMKilled 137", c.Reason, c.ExitCode)
	}
}

// TestForkBomb runs a fork bomb under pods.max 64: it stops at the limit,
// the agent keeps answering and starts another pod meanwhile.
func TestForkBomb(t *testing.T) {
	a := newAgent(t, "--pod-pids-limit", "64")
	a.start()
	// The classic bomb; the main shell becomes sleep by exec, which needs
	// no fork, so the container lives on while the bomb hits the limit.
	a.writePod("bomb", podYAML("bomb", "Always", 1, container("bomb", "b() { b | b & }; b & exec sleep 3600", "")))
	c := a.waitContainer("bomb", "bomb", startTimeout, running)
	pod := filepath.Dir(c.Cgroup)
	deadline := time.Now().Add(startTimeout)
	for {
		// v1 counts a refused fork where the limit is, v2 also in its parents.
		refused := max(fieldValue(a.cgroupFile(pod, "pids.events"), "max"), fieldValue(a.cgroupFile(c.Cgroup, "pids.events"), "max"))
		if refused > 0 {
			t.Logf("pids.events counted %d refused forks", refused)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pids.events never counted a refused fork")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if cur, _ := strconv.Atoi(a.cgroupFile(pod, "pids.current")); cur > 64 {
		t.Errorf("pids.current = %d, above pids.max 64", cur)
	}
	start := time.Now()
	a.writePod("calm", podYAML("calm", "Always", 1, container("app", "sleep 3600", "")))
	a.waitContainer("calm", "app", startTimeout, running)
	t.Logf("a second pod started %s after the fork bomb hit pids.max", time.Since(start).Round(time.Millisecond))
	if !a.alive() {
		t.Fatal("agent died")
	}
}

// TestCPUThrottle runs a busy loop under a 200m limit: cpu.stat counts
// throttled periods and the loop gets about a fifth of a core.
func TestCPUThrottle(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("spin", podYAML("spin", "Always", 1, container("spin", "while :; do :; done",
		"      limits: {cpu: 200m}\n")))
	c := a.waitContainer("spin", "spin", startTimeout, running)
	time.Sleep(time.Second)
	u0, t0 := a.cpuUsage(c.Cgroup), time.Now()
	time.Sleep(4 * time.Second)
	u1, t1 := a.cpuUsage(c.Cgroup), time.Now()
	share := float64(u1-u0) / float64(t1.Sub(t0))
	t.Logf("busy loop under 200m used %.3f of a core", share)
	if share < 0.12 || share > 0.28 {
		t.Errorf("busy loop used %.3f of a core, want about 0.2", share)
	}
	statFile := "cpu.stat"
	if n := fieldValue(a.cgroupFile(c.Cgroup, statFile), "nr_throttled"); n == 0 {
		t.Errorf("cpu.stat nr_throttled = 0, want > 0")
	}
}

// cpuUsage is the cgroup's CPU time so far, in nanoseconds.
func (a *agent) cpuUsage(rel string) int64 {
	if cgroupV2() {
		return fieldValue(a.cgroupFile(rel, "cpu.stat"), "usage_usec") * 1000
	}
	n, err := strconv.ParseInt(a.cgroupFile(rel, "cpuacct.usage"), 10, 64)
	if err != nil {
		a.t.Fatal(err)
	}
	return n
}

// fieldValue reads "key value" lines such as cpu.stat and pids.events.
func fieldValue(text, key string) int64 {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// TestAgentRestart kills the agent with SIGKILL: the container keeps running,
// a new agent knows it, and still sees it exit and restarts it.
func TestAgentRestart(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("survivor", podYAML("survivor", "Always", 1, container("app", "echo started; sleep 3600", "")))
	before := a.waitContainer("survivor", "app", startTimeout, running)
	a.kill()
	if err := syscall.Kill(before.PID, 0); err != nil {
		t.Fatalf("container PID 1 %d died with the agent: %v", before.PID, err)
	}
	a.start()
	time.Sleep(2 * time.Second)
	after := a.waitContainer("survivor", "app", startTimeout, running)
	if after.PID != before.PID || after.Attempt != 0 {
		t.Fatalf("after the restart: pid %d attempt %d, want the same pid %d at attempt 0", after.PID, after.Attempt, before.PID)
	}
	// The new agent is not the container's parent, yet it sees it exit.
	if err := syscall.Kill(childOf(t, before.PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	restarted := a.waitContainer("survivor", "app", startTimeout, func(c containerState) bool { return c.Attempt == 1 && running(c) })
	if restarted.PID == before.PID {
		t.Errorf("restarted container has the old pid %d", before.PID)
	}
}

// childOf returns the first child of pid: the app below a container's PID 1.
// A child belongs to the thread that forked it, so every thread is read.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(b)); len(fields) > 0 {
			child, err := strconv.Atoi(fields[0])
			if err != nil {
				t.Fatal(err)
			}
			return child
		}
	}
	t.Fatalf("process %d has no children", pid)
	return 0
}
