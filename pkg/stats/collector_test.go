package stats

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

func psi(some, full statsapi.PSIData) *statsapi.PSIStats {
	return &statsapi.PSIStats{Some: some, Full: full}
}

var (
	wantCPUPSI = psi(statsapi.PSIData{Avg10: 1.5, Avg60: 0.75, Avg300: 0.25, Total: 123456}, statsapi.PSIData{})
	wantMemPSI = psi(statsapi.PSIData{Avg10: 0.1, Avg60: 0.2, Avg300: 0.3, Total: 4000},
		statsapi.PSIData{Avg10: 0.05, Avg60: 0.06, Avg300: 0.07, Total: 3000})
	wantIOPSI = psi(statsapi.PSIData{Avg10: 2, Avg60: 1, Avg300: 0.5, Total: 99},
		statsapi.PSIData{Avg10: 1, Avg60: 0.5, Avg300: 0.25, Total: 77})
)

func TestSummary(t *testing.T) {
	h := newFakeHost(t)
	h.writeV2Node(t)
	h.writePod(t, "2000000", "1500000")
	got := h.collector(t).Summary(context.Background(), []Pod{testPod})

	now := metav1.NewTime(t0)
	ens3 := statsapi.InterfaceStats{Name: "ens3", RxBytes: u64(7000000), RxErrors: u64(1), TxBytes: u64(3000000), TxErrors: u64(2)}
	eth0 := statsapi.InterfaceStats{Name: "eth0", RxBytes: u64(12345), RxErrors: u64(3), TxBytes: u64(6789), TxErrors: u64(4)}
	net1 := statsapi.InterfaceStats{Name: "net1", RxBytes: u64(111), RxErrors: u64(0), TxBytes: u64(222), TxErrors: u64(0)}
	want := &statsapi.Summary{
		Node: statsapi.NodeStats{
			NodeName:  "node-1",
			StartTime: metav1.Unix(1764370000, 0),
			// cpu.stat usage_usec 5000000000 of the root cgroup.
			CPU: &statsapi.CPUStats{Time: now, UsageCoreNanoSeconds: u64(5000000000000), PSI: wantCPUPSI},
			Memory: &statsapi.MemoryStats{
				Time: now,
				// anon 1 GiB + file 512 MiB; less 256 MiB inactive_file; 4 GiB MemTotal less that.
				UsageBytes: u64(1610612736), WorkingSetBytes: u64(1342177280), AvailableBytes: u64(2952790016),
				RSSBytes: u64(1073741824), PageFaults: u64(1000), MajorPageFaults: u64(10), PSI: wantMemPSI,
			},
			// SwapTotal 1 GiB, SwapFree 768 MiB.
			Swap:    &statsapi.SwapStats{Time: now, SwapUsageBytes: u64(268435456), SwapAvailableBytes: u64(805306368)},
			IO:      &statsapi.IOStats{Time: now, PSI: wantIOPSI},
			Network: &statsapi.NetworkStats{Time: now, InterfaceStats: ens3, Interfaces: []statsapi.InterfaceStats{ens3}},
			Rlimit:  &statsapi.RlimitStats{Time: now, MaxPID: i64(31000), NumOfRunningProcesses: i64(345)},
		},
		Pods: []statsapi.PodStats{{
			PodRef:    statsapi.PodReference{Name: "web", Namespace: "default", UID: "aaaa"},
			StartTime: metav1.NewTime(t0.Add(-time.Hour)),
			Containers: []statsapi.ContainerStats{{
				Name:      "app",
				StartTime: metav1.NewTime(t0.Add(-30 * time.Minute)),
				CPU:       &statsapi.CPUStats{Time: now, UsageCoreNanoSeconds: u64(1500000000), PSI: wantCPUPSI},
				Memory: &statsapi.MemoryStats{
					Time: now,
					// 70 MiB less 10 MiB inactive_file; memory.max is "max": no available bytes.
					UsageBytes: u64(73400320), WorkingSetBytes: u64(62914560),
					RSSBytes: u64(41943040), PageFaults: u64(200), MajorPageFaults: u64(2), PSI: wantMemPSI,
				},
				Swap: &statsapi.SwapStats{Time: now, SwapUsageBytes: u64(0), SwapAvailableBytes: u64(1048576)},
				IO:   &statsapi.IOStats{Time: now, PSI: wantIOPSI},
			}},
			CPU: &statsapi.CPUStats{Time: now, UsageCoreNanoSeconds: u64(2000000000), PSI: wantCPUPSI},
			Memory: &statsapi.MemoryStats{
				Time: now,
				// 100 MiB less 20 MiB inactive_file; 200 MiB memory.max less that.
				UsageBytes: u64(104857600), WorkingSetBytes: u64(83886080), AvailableBytes: u64(125829120),
				RSSBytes: u64(52428800), PageFaults: u64(300), MajorPageFaults: u64(3), PSI: wantMemPSI,
			},
			Swap:         &statsapi.SwapStats{Time: now, SwapUsageBytes: u64(4096)},
			IO:           &statsapi.IOStats{Time: now, PSI: wantIOPSI},
			ProcessStats: &statsapi.ProcessStats{ProcessCount: u64(7)},
			// eth0 is the default though net1 is not first; lo is left out.
			Network: &statsapi.NetworkStats{Time: now, InterfaceStats: eth0, Interfaces: []statsapi.InterfaceStats{eth0, net1}},
		}},
	}
	if diff := cmp.Diff(want, got, cmpTime); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
}

// TestUsageNanoCores checks the CPU rate between two Summaries, that
// CPUAndMemory reports it without moving the window, and that a cgroup whose
// usage went down (made anew) starts over.
func TestUsageNanoCores(t *testing.T) {
	h := newFakeHost(t)
	h.writeV2Node(t)
	h.writePod(t, "2000000", "1500000")
	c := h.collector(t)
	ctx := context.Background()
	pods := []Pod{testPod}

	rates := func(s *statsapi.Summary) [3]*uint64 {
		return [3]*uint64{s.Node.CPU.UsageNanoCores, s.Pods[0].CPU.UsageNanoCores, s.Pods[0].Containers[0].CPU.UsageNanoCores}
	}
	check := func(step string, got [3]*uint64, want [3]*uint64) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: usageNanoCores of node, pod, container (-want +got):\n%s", step, diff)
		}
	}

	check("first sample", rates(c.Summary(ctx, pods)), [3]*uint64{nil, nil, nil})

	// 10 s later the node used 15 s more (1.5 cores), the pod 5 s (0.5),
	// its container 2 s (0.2).
	h.clock.Step(10 * time.Second)
	h.cgroup(t, "", map[string]string{"cpu.stat": cpuStat("5015000000")})
	h.writePod(t, "7000000", "3500000")
	check("second sample", rates(c.Summary(ctx, pods)), [3]*uint64{u64(1500000000), u64(500000000), u64(200000000)})

	// CPUAndMemory reads the new usage but reports the last rate and leaves
	// the window where it was.
	h.clock.Step(5 * time.Second)
	h.writePod(t, "8000000", "3500000")
	cm := c.CPUAndMemory(ctx, pods)
	check("CPUAndMemory", rates(cm), [3]*uint64{u64(1500000000), u64(500000000), u64(200000000)})
	if got := *cm.Pods[0].CPU.UsageCoreNanoSeconds; got != 8000000000 {
		t.Errorf("CPUAndMemory pod usageCoreNanoSeconds = %d, want 8000000000", got)
	}

	// 10 s after the second Summary: the pod used 1 s more (0.1 cores; the
	// window starts at the second Summary, not at CPUAndMemory); the
	// container was made anew and starts over; the node was idle.
	h.clock.Step(5 * time.Second)
	h.writePod(t, "8000000", "1000")
	check("container made anew", rates(c.Summary(ctx, pods)), [3]*uint64{u64(0), u64(100000000), nil})

	h.clock.Step(10 * time.Second)
	h.writePod(t, "8000000", "1001000")
	check("after the restart", rates(c.Summary(ctx, pods)), [3]*uint64{u64(0), u64(0), u64(100000000)})

	// A pod not listed is forgotten: listed again, it has no rate at first.
	h.clock.Step(10 * time.Second)
	c.Summary(ctx, nil)
	h.clock.Step(10 * time.Second)
	check("pod gone and back", rates(c.Summary(ctx, pods)), [3]*uint64{u64(0), nil, nil})
}

// TestMissingFiles: a cgroup v1 host (no cgroup v2 files at the root, no pod
// cgroups there), and a pod whose memory controller is not enabled, still
// give a summary, with what could be read.
func TestMissingFiles(t *testing.T) {
	h := newFakeHost(t)
	h.writeProc(t)
	h.cgroup(t, podCgroup, map[string]string{"cpu.stat": cpuStat("2000000")})
	c := h.collector(t)
	pod := testPod
	pod.SandboxPID = 0
	got := c.Summary(context.Background(), []Pod{pod})
	now := metav1.NewTime(t0)

	// /proc/stat's cpu line less idle (5000) and iowait (400), guest
	// times (80, 90) counted in user and nice already: 1680 ticks of 10 ms.
	wantCPU := &statsapi.CPUStats{Time: now, UsageCoreNanoSeconds: u64(16800000000), PSI: wantCPUPSI}
	if diff := cmp.Diff(wantCPU, got.Node.CPU, cmpTime); diff != "" {
		t.Errorf("node CPU from /proc/stat (-want +got):\n%s", diff)
	}
	// MemTotal 4 GiB less MemFree 1 GiB; less Inactive(file) 128 MiB;
	// page faults from /proc/vmstat.
	wantMem := &statsapi.MemoryStats{
		Time: now, UsageBytes: u64(3221225472), WorkingSetBytes: u64(3087007744), AvailableBytes: u64(1207959552),
		RSSBytes: u64(939524096), PageFaults: u64(5555), MajorPageFaults: u64(55), PSI: wantMemPSI,
	}
	if diff := cmp.Diff(wantMem, got.Node.Memory, cmpTime); diff != "" {
		t.Errorf("node memory from /proc/meminfo (-want +got):\n%s", diff)
	}
	p := got.Pods[0]
	if p.CPU == nil || *p.CPU.UsageCoreNanoSeconds != 2000000000 || p.CPU.PSI != nil {
		t.Errorf("pod CPU = %+v, want 2000000000 ns and no PSI", p.CPU)
	}
	if p.Memory != nil || p.Swap != nil || p.IO != nil || p.ProcessStats != nil || p.Network != nil {
		t.Errorf("pod has stats from missing files: memory %+v swap %+v io %+v process %+v network %+v",
			p.Memory, p.Swap, p.IO, p.ProcessStats, p.Network)
	}
	if ctr := p.Containers[0]; ctr.Name != "app" || ctr.CPU != nil || ctr.Memory != nil {
		t.Errorf("container without a cgroup = %+v, want only its name and start time", ctr)
	}

	// Nothing at all: an empty proc and cgroup tree.
	empty, err := New(Config{NodeName: "n", CgroupFS: t.TempDir(), ProcFS: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := empty.Summary(context.Background(), []Pod{testPod})
	if n := s.Node; n.CPU != nil || n.Memory != nil || n.Swap != nil || n.IO != nil || n.Network != nil || n.Rlimit != nil {
		t.Errorf("node stats from nothing: %+v", n)
	}
	if len(s.Pods) != 1 || s.Pods[0].PodRef.Name != "web" || len(s.Pods[0].Containers) != 1 {
		t.Errorf("pods = %+v, want web with its container", s.Pods)
	}
}

func TestMemoryFloors(t *testing.T) {
	for _, tc := range []struct {
		name               string
		current, max, stat string
		wantWS, wantAvail  *uint64
	}{
		{"inactive above usage: working set 0", "1000", "4096", "inactive_file 5000\n", u64(0), u64(4096)},
		{"usage above the limit: nothing available", "8192", "4096", "inactive_file 0\n", u64(8192), u64(0)},
		{"no inactive_file: working set is usage", "1000", "max", "anon 10\n", u64(1000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			h.cgroup(t, "pod", map[string]string{"memory.current": tc.current, "memory.max": tc.max, "memory.stat": tc.stat})
			s := h.collector(t).Summary(context.Background(), []Pod{{Name: "p", CgroupPath: "pod"}})
			m := s.Pods[0].Memory
			if diff := cmp.Diff([2]*uint64{tc.wantWS, tc.wantAvail}, [2]*uint64{m.WorkingSetBytes, m.AvailableBytes}); diff != "" {
				t.Errorf("working set, available (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeFs(t *testing.T) {
	h := newFakeHost(t)
	c, err := New(Config{NodeName: "n", CgroupFS: h.cgroupFS, ProcFS: h.procFS, RootDir: t.TempDir(), Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	fs := c.Summary(context.Background(), nil).Node.Fs
	if fs == nil {
		t.Fatal("no node fs stats")
	}
	if *fs.CapacityBytes == 0 || *fs.AvailableBytes > *fs.CapacityBytes || *fs.UsedBytes > *fs.CapacityBytes ||
		*fs.Inodes != *fs.InodesFree+*fs.InodesUsed {
		t.Errorf("inconsistent fs stats: capacity %d available %d used %d inodes %d free %d used %d",
			*fs.CapacityBytes, *fs.AvailableBytes, *fs.UsedBytes, *fs.Inodes, *fs.InodesFree, *fs.InodesUsed)
	}

	c, _ = New(Config{NodeName: "n", CgroupFS: h.cgroupFS, ProcFS: h.procFS, RootDir: "/nonexistent/kl", Clock: h.clock})
	if fs := c.Summary(context.Background(), nil).Node.Fs; fs != nil {
		t.Errorf("fs stats of a missing dir: %+v", fs)
	}
}

func TestNewRejectsMissingNodeName(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without NodeName succeeded")
	}
}

// TestRealProc reads this host's own /proc and cgroup root (v1 or v2): the
// kernel's real formats give a node CPU, memory and process figure.
func TestRealProc(t *testing.T) {
	c, err := New(Config{NodeName: "host", RootDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.Summary(ctx, nil)
	time.Sleep(200 * time.Millisecond)
	n := c.Summary(ctx, nil).Node
	if n.CPU == nil || n.CPU.UsageCoreNanoSeconds == nil || *n.CPU.UsageCoreNanoSeconds == 0 || n.CPU.UsageNanoCores == nil {
		t.Errorf("node CPU = %+v, want usage and a rate", n.CPU)
	}
	if m := n.Memory; m == nil || m.WorkingSetBytes == nil || *m.WorkingSetBytes == 0 || m.AvailableBytes == nil ||
		*m.UsageBytes < *m.WorkingSetBytes {
		t.Errorf("node memory = %+v, want usage >= working set > 0 and available bytes", m)
	}
	if n.Rlimit == nil || n.Rlimit.MaxPID == nil || *n.Rlimit.NumOfRunningProcesses == 0 {
		t.Errorf("node rlimit = %+v, want pid max and task count", n.Rlimit)
	}
	if n.StartTime.IsZero() || !n.StartTime.Before(&metav1.Time{Time: time.Now()}) {
		t.Errorf("node start time = %v, want the boot time", n.StartTime)
	}
	if n.Fs == nil {
		t.Error("no node fs stats")
	}
}
