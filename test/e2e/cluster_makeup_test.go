//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// TestClusterMakeUp runs the README's `make up` as a user would, from this
// checkout: the control plane and the node (in the node VM on a host without
// cgroup v2, natively otherwise), then drives it with kubectl only. The node
// is Ready, its Lease renews, a pod with limits gets the exact cgroup v2
// values, `kubectl logs` reaches the node, the node's /stats/summary
// through the apiserver's node proxy has the pod with the cpu and memory
// its cgroup files say, and `make down` stops every process it started and
// leaves no mounts. The node serves on the e2e network namespace's routable
// address (hack/e2e-netns.sh), which the node proxy needs.
//
// It is not parallel: make up builds bin/kubelet-lite, which the other tests
// run.
func TestClusterMakeUp(t *testing.T) {
	repo := makeupRepo(t)
	dir := t.TempDir()
	node := "makeup-node"
	env := append(os.Environ(), "KL_CLUSTER_DIR="+dir)
	make := func(ctx context.Context, target string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory", target}, args...)...)
		cmd.Dir, cmd.Env = repo, env
		cmd.WaitDelay = 10 * time.Second
		return cmd.CombinedOutput()
	}

	down := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		pids := makeupPIDs(t, dir)
		out, err := make(ctx, "down")
		if err != nil {
			t.Errorf("make down: %v\n%s", err, out)
			return
		}
		for name, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil && !makeupZombie(pid) {
				t.Errorf("make down left %s (pid %d) running", name, pid)
			}
		}
		if m := makeupMounts(t, dir); len(m) > 0 {
			t.Errorf("make down left mounts below %s: %v", dir, m)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			makeupLogTails(t, dir)
		}
		down()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	addr := os.Getenv("KL_E2E_NODE_IP")
	if addr == "" {
		t.Fatal("KL_E2E_NODE_IP is not set: run the e2e tests through hack/e2e-netns.sh (hack/test.sh does)")
	}
	out, err := make(ctx, "up", "UP_FLAGS=--node "+node+" --node-address "+addr)
	if err != nil {
		t.Fatalf("make up: %v\n%s", err, out)
	}
	t.Logf("make up returned after %s", time.Since(start).Round(time.Second))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	if last := lines[len(lines)-1]; last != "export KUBECONFIG="+kubeconfig {
		t.Fatalf("make up's last line = %q, want the kubeconfig to use", last)
	}
	k := makeupKubectl(kubeconfig)

	up := time.Now()
	eventually(t, 60*time.Second, "kubectl get nodes shows the node Ready", func() (bool, string) {
		out, err := k("", "get", "nodes", "--no-headers")
		if err != nil {
			return false, err.Error()
		}
		f := strings.Fields(out)
		return len(f) >= 2 && f[0] == node && f[1] == "Ready", out
	})
	t.Logf("node Ready %s after make up returned", time.Since(up).Round(time.Millisecond))
	renew := func() (string, error) {
		return k("", "get", "lease", "-n", "kube-node-lease", node, "-o", "jsonpath={.spec.renewTime}")
	}
	var first string
	eventually(t, 30*time.Second, "the node's Lease", func() (bool, string) {
		first, err = renew()
		return err == nil && first != "", fmt.Sprint(err)
	})
	eventually(t, 40*time.Second, "the Lease renews", func() (bool, string) {
		now, err := renew()
		return err == nil && now != first, fmt.Sprintf("%s (first %s) %v", now, first, err)
	})

	// The container sees its own cgroup through its cgroup namespace.
	pod := `apiVersion: v1
kind: Pod
metadata: {name: limits, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: kubelet-lite.local/busybox:v1
    imagePullPolicy: Never
    command: [sh, -c, 'stat -fc "fs %t" /sys/fs/cgroup; for f in cpu.max cpu.weight memory.max; do echo "$f $(cat /sys/fs/cgroup/$f)"; done; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 3600']
    resources:
      requests: {cpu: 250m, memory: 32Mi}
      limits: {cpu: 500m, memory: 64Mi}
`
	if out, err := k(pod, "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var logs string
	eventually(t, 120*time.Second, "the pod's log through kubectl", func() (bool, string) {
		logs, err = k("", "logs", "limits")
		return err == nil && strings.Contains(logs, "memory.max"), fmt.Sprintf("%q %v", logs, err)
	})
	// fs 63677270 is cgroup2's magic; 250m is 256 shares, which runc's conversion makes weight 35.
	for _, want := range []string{"fs 63677270", "cpu.max 50000 100000", "cpu.weight 35", "memory.max 67108864"} {
		if !strings.Contains(logs, want+"\n") {
			t.Errorf("the container's cgroup files:\n%s\nwant the line %q", logs, want)
		}
	}
	makeupStats(t, k, node)
	if out, err := k("", "delete", "pod", "limits", "--wait=true", "--timeout=90s"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// makeupStats reads the node's /stats/summary through the apiserver's node
// proxy between two reads of the limits pod's cgroup files (kubectl exec):
// its app container's cpu usage lies between theirs, its memory working
// set near theirs, and the pod's own figures are not zero.
func makeupStats(t *testing.T, k func(string, ...string) (string, error), node string) {
	t.Helper()
	type cg struct{ usageNs, workingSet uint64 }
	read := func() cg {
		t.Helper()
		out, err := k("", "exec", "limits", "-c", "app", "--", "cat", "/sys/fs/cgroup/cpu.stat",
			"/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var c cg
		var current, inactive uint64
		for i, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "usage_usec":
				u, _ := strconv.ParseUint(f[1], 10, 64)
				c.usageNs = u * 1000
			case len(f) == 2 && f[0] == "inactive_file":
				inactive, _ = strconv.ParseUint(f[1], 10, 64)
			case len(f) == 1 && current == 0 && i > 0:
				current, _ = strconv.ParseUint(f[0], 10, 64)
			}
		}
		if c.usageNs == 0 || current == 0 {
			t.Fatalf("no usage_usec or memory.current in the container's cgroup files:\n%s", out)
		}
		c.workingSet = current - min(inactive, current)
		return c
	}
	before := read()
	raw, err := k("", "get", "--raw", "/api/v1/nodes/"+node+"/proxy/stats/summary")
	if err != nil {
		t.Fatalf("the summary through the node proxy: %v", err)
	}
	after := read()
	var sum statsapi.Summary
	if err := json.Unmarshal([]byte(raw), &sum); err != nil {
		t.Fatalf("%v\n%.500s", err, raw)
	}
	var pod *statsapi.PodStats
	for i := range sum.Pods {
		if sum.Pods[i].PodRef.Name == "limits" {
			pod = &sum.Pods[i]
		}
	}
	if pod == nil {
		t.Fatalf("no pod limits in the summary: %.1000s", raw)
	}
	if pod.CPU == nil || pod.CPU.UsageCoreNanoSeconds == nil || *pod.CPU.UsageCoreNanoSeconds == 0 ||
		pod.Memory == nil || pod.Memory.WorkingSetBytes == nil || *pod.Memory.WorkingSetBytes == 0 {
		t.Errorf("the pod's cpu %+v or memory %+v is zero", pod.CPU, pod.Memory)
	}
	var app *statsapi.ContainerStats
	for i := range pod.Containers {
		if pod.Containers[i].Name == "app" {
			app = &pod.Containers[i]
		}
	}
	if app == nil || app.CPU == nil || app.CPU.UsageCoreNanoSeconds == nil || app.Memory == nil || app.Memory.WorkingSetBytes == nil {
		t.Fatalf("no cpu and memory of container app in %+v", pod.Containers)
	}
	cpu, ws := *app.CPU.UsageCoreNanoSeconds, *app.Memory.WorkingSetBytes
	if cpu < before.usageNs || cpu > after.usageNs {
		t.Errorf("app's cpu usage %d ns is not between its cgroup's %d and %d", cpu, before.usageNs, after.usageNs)
	}
	// A working set moves a little with each exec; 25% and 512 KiB of slack.
	lo, hi := min(before.workingSet, after.workingSet), max(before.workingSet, after.workingSet)
	if float64(ws) < float64(lo)*0.75-512<<10 || float64(ws) > float64(hi)*1.25+512<<10 {
		t.Errorf("app's memory working set %d is far from its cgroup's %d and %d", ws, before.workingSet, after.workingSet)
	}
	t.Logf("summary: app cpu %d ns (cgroup %d..%d), working set %d (cgroup %d, %d); pod cpu %d ns, working set %d",
		cpu, before.usageNs, after.usageNs, ws, before.workingSet, after.workingSet,
		*pod.CPU.UsageCoreNanoSeconds, *pod.Memory.WorkingSetBytes)
}

// makeupRepo is the checkout the test runs from (test/e2e's grandparent).
func makeupRepo(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "hack/cluster/up.sh")); err != nil {
		t.Fatalf("run from test/e2e of a checkout: %v", err)
	}
	return repo
}

// makeupKubectl runs the cluster's kubectl with kubeconfig, stdin as given,
// and returns its output; an error carries its stderr.
func makeupKubectl(kubeconfig string) func(stdin string, args ...string) (string, error) {
	kubectl := filepath.Join(makeupCacheDir(), "cluster", "bin", "kubectl")
	return func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out), nil
	}
}

// makeupPIDs reads the PIDs up.sh recorded in DIR/pids.
func makeupPIDs(t *testing.T, dir string) map[string]int {
	pids := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "pids", "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(data), &pid); err == nil && pid > 0 {
			pids[filepath.Base(f)] = pid
		}
	}
	if len(pids) == 0 {
		t.Errorf("no PIDs recorded in %s/pids", dir)
	}
	return pids
}

func makeupZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// makeupMounts lists the mount points below dir.
func makeupMounts(t *testing.T, dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

func makeupLogTails(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		t.Logf("--- last lines of %s:\n%s", l, strings.Join(lines, "\n"))
	}
}

func makeupCacheDir() string {
	if d := os.Getenv("KL_CACHE"); d != "" {
		return d
	}
	return "/var/cache/kubelet-lite"
}
