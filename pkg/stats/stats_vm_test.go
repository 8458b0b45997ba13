//go:build vm

package stats

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests read real cgroup v2 files: run them in the node VM
// (hack/nodevm/gotest.sh ./pkg/stats, build tag vm). On any other host they
// fail, they never skip.

const busyEnv = "KL_STATS_BUSY"

// busyMem is what the busy helper allocates and touches: at least this much
// anonymous memory is charged to its cgroup.
const busyMem = 32 << 20

var sink []byte

func TestMain(m *testing.M) {
	if os.Getenv(busyEnv) == "1" {
		busy()
	}
	os.Exit(m.Run())
}

// busy is the helper process: it touches busyMem bytes, says so, and spins.
func busy() {
	sink = make([]byte, busyMem)
	for i := range sink {
		sink[i] = byte(i)
	}
	fmt.Println("ready")
	for x := 0; ; x++ {
		sink[x%len(sink)]++
	}
}

const cgroupFS = "/sys/fs/cgroup"

// testCgroups makes <own cgroup>/kl-stats-<pid> (a pod) with app (a
// container) below it, the pod limited to 256 MiB, and removes them at the end.
func testCgroups(t *testing.T) (pod, app string) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupFS, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("%s is not a cgroup v2 mount (statfs type %#x, err %v): run this test in the node VM "+
			"(hack/nodevm/gotest.sh ./pkg/stats)", cgroupFS, st.Type, err)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	own, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
	if !ok {
		t.Fatalf("own cgroup: /proc/self/cgroup is %q, want one cgroup v2 line", b)
	}
	controllers := "+cpu +memory +pids +io"
	if err := os.WriteFile(filepath.Join(cgroupFS, own, "cgroup.subtree_control"), []byte(controllers), 0); err != nil {
		t.Fatalf("enable %s below own cgroup %s: %v", controllers, own, err)
	}
	pod = filepath.Join(own, fmt.Sprintf("kl-stats-%d", os.Getpid()))
	app = filepath.Join(pod, "app")
	for _, p := range []string{pod, app} {
		if err := os.Mkdir(filepath.Join(cgroupFS, p), 0o755); err != nil {
			t.Fatal(err)
		}
		if p == pod {
			write(t, cgroupFS, filepath.Join(pod, "cgroup.subtree_control"), controllers)
			write(t, cgroupFS, filepath.Join(pod, "memory.max"), strconv.Itoa(256<<20))
		}
	}
	t.Cleanup(func() {
		for _, p := range []string{app, pod} {
			dir := filepath.Join(cgroupFS, p)
			var err error
			for range 50 { // the killed helper leaves its cgroup a moment later
				if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil && !os.IsNotExist(err) {
				t.Errorf("remove %s: %v", dir, err)
			}
		}
	})
	return pod, app
}

// startBusy starts the helper inside the cgroup app and waits until it has
// touched its memory.
func startBusy(t *testing.T, app string) *exec.Cmd {
	t.Helper()
	fd, err := unix.Open(filepath.Join(cgroupFS, app), unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), busyEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start busy helper in %s: %v", app, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("helper said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("busy helper: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("busy helper not ready after 2m")
	}
	return cmd
}

func readNum(t *testing.T, rel, file string) uint64 {
	t.Helper()
	v, err := readUint(filepath.Join(cgroupFS, rel, file))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readCPU(t *testing.T, rel string) uint64 {
	t.Helper()
	kv, err := readKeyValues(filepath.Join(cgroupFS, rel, "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	return kv["usage_usec"] * 1000
}

func TestV2RealCgroup(t *testing.T) {
	pod, app := testCgroups(t)
	cmd := startBusy(t, app)
	c, err := New(Config{NodeName: "nodevm", RootDir: "/"})
	if err != nil {
		t.Fatal(err)
	}
	pods := []Pod{{
		UID: "uid-1", Namespace: "default", Name: "busy", CgroupPath: pod, SandboxPID: cmd.Process.Pid,
		StartTime:  time.Now(),
		Containers: []Container{{Name: "app", CgroupPath: app, StartTime: time.Now()}},
	}}
	ctx := context.Background()
	c.Summary(ctx, pods)
	time.Sleep(3 * time.Second)

	cpuBefore := readCPU(t, pod)
	s := c.Summary(ctx, pods)
	cpuAfter := readCPU(t, pod)
	memNow := readNum(t, pod, "memory.current")
	p := s.Pods[0]
	if p.CPU != nil && p.CPU.UsageNanoCores != nil && p.Memory != nil && p.Memory.WorkingSetBytes != nil {
		t.Logf("pod: cpu %d ns (cpu.stat %d..%d), %d nanocores; memory %d bytes (memory.current %d), working set %d",
			*p.CPU.UsageCoreNanoSeconds, cpuBefore, cpuAfter, *p.CPU.UsageNanoCores, *p.Memory.UsageBytes, memNow, *p.Memory.WorkingSetBytes)
	}

	t.Run("pod cpu", func(t *testing.T) {
		if p.CPU == nil || p.CPU.UsageCoreNanoSeconds == nil || p.CPU.UsageNanoCores == nil {
			t.Fatalf("pod CPU = %+v, want usage and rate", p.CPU)
		}
		if got := *p.CPU.UsageCoreNanoSeconds; got < cpuBefore || got > cpuAfter || got == 0 {
			t.Errorf("usageCoreNanoSeconds = %d, want within cpu.stat's %d..%d", got, cpuBefore, cpuAfter)
		}
		// The helper spins on one thread: well above 0.05 of a core even
		// under TCG, and never above all CPUs.
		if got, most := *p.CPU.UsageNanoCores, uint64(runtime.NumCPU())*1_100_000_000; got < 50_000_000 || got > most {
			t.Errorf("usageNanoCores = %d, want 50000000..%d", got, most)
		}
		// The container is read a moment after the pod: it may be ahead of
		// the pod's figure, never of the pod's cpu.stat read after.
		ctr := p.Containers[0].CPU
		if ctr == nil || ctr.UsageCoreNanoSeconds == nil || ctr.UsageNanoCores == nil {
			t.Fatalf("container CPU = %+v, want usage and rate", ctr)
		}
		if got := *ctr.UsageCoreNanoSeconds; got == 0 || got > cpuAfter {
			t.Errorf("container usageCoreNanoSeconds = %d, want 1..%d (the pod's cpu.stat after)", got, cpuAfter)
		}
		if got := *ctr.UsageNanoCores; got < 50_000_000 {
			t.Errorf("container usageNanoCores = %d, want at least 50000000", got)
		}
	})

	t.Run("pod memory", func(t *testing.T) {
		m := p.Memory
		if m == nil || m.UsageBytes == nil || m.WorkingSetBytes == nil || m.AvailableBytes == nil || m.RSSBytes == nil {
			t.Fatalf("pod memory = %+v, want usage, working set, available and rss", m)
		}
		if *m.RSSBytes < busyMem || *m.WorkingSetBytes < busyMem {
			t.Errorf("rss %d, working set %d: want at least the helper's %d", *m.RSSBytes, *m.WorkingSetBytes, busyMem)
		}
		if diff := int64(*m.UsageBytes) - int64(memNow); diff > 4<<20 || diff < -4<<20 {
			t.Errorf("usageBytes %d, memory.current %d: more than 4 MiB apart", *m.UsageBytes, memNow)
		}
		if got, want := *m.AvailableBytes, uint64(256<<20)-*m.WorkingSetBytes; got != want {
			t.Errorf("availableBytes = %d, want 256 MiB - working set = %d", got, want)
		}
		if m.PageFaults == nil || *m.PageFaults == 0 {
			t.Errorf("pageFaults = %v, want > 0 (the helper touched %d bytes)", m.PageFaults, busyMem)
		}
		if ctr := p.Containers[0].Memory; ctr == nil || ctr.AvailableBytes != nil || *ctr.WorkingSetBytes < busyMem {
			t.Errorf("container memory = %+v, want working set >= %d and no limit", ctr, busyMem)
		}
	})

	t.Run("pod process, pressure, network", func(t *testing.T) {
		if p.ProcessStats == nil || *p.ProcessStats.ProcessCount == 0 {
			t.Errorf("process stats = %+v, want the helper's threads", p.ProcessStats)
		}
		if p.CPU.PSI == nil || p.Memory.PSI == nil || p.IO == nil || p.IO.PSI == nil {
			t.Errorf("pressure: cpu %+v memory %+v io %+v, want all (CONFIG_PSI=y)", p.CPU.PSI, p.Memory.PSI, p.IO)
		} else if p.CPU.PSI.Some.Total == 0 {
			t.Logf("cpu pressure some total is 0 (no contention seen)")
		}
		if p.Network == nil || len(p.Network.Interfaces) == 0 {
			t.Fatalf("network = %+v, want the helper's interfaces", p.Network)
		}
		for _, i := range p.Network.Interfaces {
			if i.Name == "lo" {
				t.Errorf("loopback reported: %+v", p.Network.Interfaces)
			}
		}
	})

	t.Run("node", func(t *testing.T) {
		n := s.Node
		if n.CPU == nil || n.CPU.UsageNanoCores == nil || *n.CPU.UsageNanoCores < 50_000_000 ||
			*n.CPU.UsageCoreNanoSeconds < *p.CPU.UsageCoreNanoSeconds {
			t.Errorf("node CPU = %+v, want a rate and usage at least the pod's", n.CPU)
		}
		if n.Memory == nil || *n.Memory.WorkingSetBytes < *p.Memory.WorkingSetBytes || *n.Memory.AvailableBytes == 0 {
			t.Errorf("node memory = %+v, want a working set at least the pod's and some available", n.Memory)
		}
		if n.Fs == nil || *n.Fs.CapacityBytes == 0 || n.Rlimit == nil || *n.Rlimit.NumOfRunningProcesses == 0 {
			t.Errorf("node fs %+v, rlimit %+v: want both", n.Fs, n.Rlimit)
		}
		if n.StartTime.IsZero() || n.StartTime.After(time.Now()) {
			t.Errorf("node start time %v, want the boot time", n.StartTime)
		}
	})

	t.Run("resource metrics", func(t *testing.T) {
		list := func(context.Context) ([]Pod, error) { return pods, nil }
		rec := get(t, c.ResourceMetricsHandler(list), "/metrics/resource")
		got, _ := parseMetrics(t, rec.Body.String())
		for _, name := range []string{"pod_cpu_usage_seconds_total", "container_memory_working_set_bytes", "node_cpu_usage_seconds_total"} {
			if len(got[name]) != 1 || got[name][0].Value <= 0 {
				t.Errorf("%s = %+v, want one positive sample", name, got[name])
			}
		}
	})
}
