package stats

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
)

// fakeHost is a cgroup v2 tree and a /proc in a temp dir, with the files a
// real node has and values the tests can check by hand.
type fakeHost struct {
	cgroupFS, procFS string
	clock            *testingclock.FakeClock
}

var t0 = time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)

const (
	podCgroup  = "kubelet-lite/kubepods/burstable/podaaaa"
	appCgroup  = podCgroup + "/app"
	sandboxPID = 4242
)

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	dir := t.TempDir()
	return &fakeHost{
		cgroupFS: filepath.Join(dir, "cgroup"),
		procFS:   filepath.Join(dir, "proc"),
		clock:    testingclock.NewFakeClock(t0),
	}
}

// write writes content to root/rel, making its directories.
func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) cgroup(t *testing.T, rel string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		write(t, h.cgroupFS, filepath.Join(rel, name), content)
	}
}

func (h *fakeHost) proc(t *testing.T, files map[string]string) {
	t.Helper()
	for name, content := range files {
		write(t, h.procFS, name, content)
	}
}

func cpuStat(usageUsec string) string {
	return "usage_usec " + usageUsec + "\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n"
}

const cpuPressure = "some avg10=1.50 avg60=0.75 avg300=0.25 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
const memoryPressure = "some avg10=0.10 avg60=0.20 avg300=0.30 total=4000\nfull avg10=0.05 avg60=0.06 avg300=0.07 total=3000\n"
const ioPressure = "some avg10=2.00 avg60=1.00 avg300=0.50 total=99\nfull avg10=1.00 avg60=0.50 avg300=0.25 total=77\n"

// writeV2Node writes a cgroup v2 root and a /proc: the node has used 5000 s
// of CPU, 1 GiB anon and 512 MiB file memory (256 MiB inactive) of 4 GiB.
func (h *fakeHost) writeV2Node(t *testing.T) {
	h.cgroup(t, "", map[string]string{
		"cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
		"cpu.stat":           cpuStat("5000000000"),
		"memory.stat": "anon 1073741824\nfile 536870912\nkernel 52428800\nactive_file 268435456\ninactive_file 268435456\n" +
			"pgfault 1000\npgmajfault 10\n",
	})
	h.writeProc(t)
}

// writeProc writes the /proc files every node has.
func (h *fakeHost) writeProc(t *testing.T) {
	h.proc(t, map[string]string{
		"stat": "cpu  1000 200 300 5000 400 50 60 70 80 90\ncpu0 500 100 150 2500 200 25 30 35 40 45\n" +
			"intr 12345\nctxt 67890\nbtime 1764370000\nprocesses 4321\nprocs_running 2\nprocs_blocked 0\n",
		"meminfo": "MemTotal:        4194304 kB\nMemFree:         1048576 kB\nMemAvailable:    2097152 kB\n" +
			"Buffers:           65536 kB\nCached:           524288 kB\nInactive(file):   131072 kB\nAnonPages:        917504 kB\n" +
			"SwapTotal:        1048576 kB\nSwapFree:          786432 kB\nHugePages_Total:       0\n",
		"vmstat":                 "nr_free_pages 262144\npgfault 5555\npgmajfault 55\n",
		"pressure/cpu":           cpuPressure,
		"pressure/memory":        memoryPressure,
		"pressure/io":            ioPressure,
		"sys/kernel/pid_max":     "4194304\n",
		"sys/kernel/threads-max": "31000\n",
		"loadavg":                "0.50 0.40 0.30 2/345 6789\n",
		"net/dev": "Inter-|   Receive                                                |  Transmit\n" +
			" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
			"    lo:    9999      99    0    0    0     0          0         0     9999      99    0    0    0     0       0          0\n" +
			"  ens3: 7000000    5000    1    0    0     0          0         0  3000000    4000    2    0    0     0       0          0\n" +
			"veth12ab:  100      1    0    0    0     0          0         0      200       2    0    0    0     0       0          0\n",
	})
}

// writePod writes the pod's and its container's cgroups and its sandbox's
// net/dev: the pod has used 2 s of CPU and 100 MiB of memory (20 MiB
// inactive file) of a 200 MiB limit; its container 1.5 s and 70 MiB (10 MiB
// inactive file), unlimited.
func (h *fakeHost) writePod(t *testing.T, podUsec, appUsec string) {
	h.cgroup(t, podCgroup, map[string]string{
		"cpu.stat":            cpuStat(podUsec),
		"memory.current":      "104857600\n",
		"memory.max":          "209715200\n",
		"memory.swap.current": "4096\n",
		"memory.swap.max":     "max\n",
		"memory.stat":         "anon 52428800\nfile 41943040\ninactive_file 20971520\npgfault 300\npgmajfault 3\n",
		"pids.current":        "7\n",
		"cpu.pressure":        cpuPressure,
		"memory.pressure":     memoryPressure,
		"io.pressure":         ioPressure,
	})
	h.cgroup(t, appCgroup, map[string]string{
		"cpu.stat":            cpuStat(appUsec),
		"memory.current":      "73400320\n",
		"memory.max":          "max\n",
		"memory.swap.current": "0\n",
		"memory.swap.max":     "1048576\n",
		"memory.stat":         "anon 41943040\nfile 31457280\ninactive_file 10485760\npgfault 200\npgmajfault 2\n",
		"pids.current":        "3\n",
		"cpu.pressure":        cpuPressure,
		"memory.pressure":     memoryPressure,
		"io.pressure":         ioPressure,
	})
	h.proc(t, map[string]string{
		"4242/net/dev": "Inter-|   Receive                                                |  Transmit\n" +
			" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
			"    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n" +
			"  eth0:   12345      40    3    0    0     0          0         0     6789      30    4    0    0     0       0          0\n" +
			"  net1:     111       1    0    0    0     0          0         0      222       2    0    0    0     0       0          0\n",
	})
}

func (h *fakeHost) collector(t *testing.T) *Collector {
	t.Helper()
	c, err := New(Config{NodeName: "node-1", CgroupFS: h.cgroupFS, ProcFS: h.procFS, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var testPod = Pod{
	UID: "aaaa", Namespace: "default", Name: "web",
	CgroupPath: podCgroup, SandboxPID: sandboxPID,
	StartTime:  t0.Add(-time.Hour),
	Containers: []Container{{Name: "app", CgroupPath: appCgroup, StartTime: t0.Add(-30 * time.Minute)}},
}

func u64(v uint64) *uint64 { return &v }
func i64(v int64) *int64   { return &v }

var cmpTime = cmp.Comparer(func(a, b metav1.Time) bool { return a.Time.Equal(b.Time) })
