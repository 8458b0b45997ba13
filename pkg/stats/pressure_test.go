package stats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// copyDir copies the files of testdata dir src into the cgroup rel of h.
func (h *fakeHost) copyDir(t *testing.T, src, rel string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	h.cgroup(t, rel, files)
}

func TestPressureCollector(t *testing.T) {
	h := newFakeHost(t)
	h.copyDir(t, "testdata/psi", podCgroup)
	// A kernel before 5.13 writes no "full" line for CPU and a cgroup v1
	// host no pressure files at all.
	h.copyDir(t, "testdata/psi-old-kernel", "kubelet-lite/kubepods/besteffort/podbbbb")
	h.cgroup(t, "kubelet-lite/kubepods/podcccc", map[string]string{"cpu.stat": cpuStat("1")})
	pods := []Pod{
		testPod,
		{UID: "bbbb", Namespace: "kube-system", Name: "old", CgroupPath: "kubelet-lite/kubepods/besteffort/podbbbb"},
		{UID: "cccc", Namespace: "default", Name: "v1", CgroupPath: "kubelet-lite/kubepods/podcccc"},
		{UID: "dddd", Namespace: "default", Name: "nocgroup"},
	}
	c := h.collector(t).PressureCollector(func(context.Context) ([]Pod, error) { return pods, nil })
	want := `
# HELP container_pressure_cpu_stalled_seconds_total Total time duration all the pod's tasks have been stalled on CPU, from the pod cgroup's cpu.pressure
# TYPE container_pressure_cpu_stalled_seconds_total counter
container_pressure_cpu_stalled_seconds_total{namespace="default",pod="web"} 1.25
container_pressure_cpu_stalled_seconds_total{namespace="kube-system",pod="old"} 0
# HELP container_pressure_cpu_waiting_seconds_total Total time duration the pod's tasks have been waiting on CPU, from the pod cgroup's cpu.pressure
# TYPE container_pressure_cpu_waiting_seconds_total counter
container_pressure_cpu_waiting_seconds_total{namespace="default",pod="web"} 2.5
container_pressure_cpu_waiting_seconds_total{namespace="kube-system",pod="old"} 1
# HELP container_pressure_io_stalled_seconds_total Total time duration all the pod's tasks have been stalled on IO, from the pod cgroup's io.pressure
# TYPE container_pressure_io_stalled_seconds_total counter
container_pressure_io_stalled_seconds_total{namespace="default",pod="web"} 40
# HELP container_pressure_io_waiting_seconds_total Total time duration the pod's tasks have been waiting on IO, from the pod cgroup's io.pressure
# TYPE container_pressure_io_waiting_seconds_total counter
container_pressure_io_waiting_seconds_total{namespace="default",pod="web"} 42
# HELP container_pressure_memory_stalled_seconds_total Total time duration all the pod's tasks have been stalled on memory, from the pod cgroup's memory.pressure
# TYPE container_pressure_memory_stalled_seconds_total counter
container_pressure_memory_stalled_seconds_total{namespace="default",pod="web"} 0.0005
# HELP container_pressure_memory_waiting_seconds_total Total time duration the pod's tasks have been waiting on memory, from the pod cgroup's memory.pressure
# TYPE container_pressure_memory_waiting_seconds_total counter
container_pressure_memory_waiting_seconds_total{namespace="default",pod="web"} 0.00075
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestPressureCollectorListFails(t *testing.T) {
	h := newFakeHost(t)
	c := h.collector(t).PressureCollector(func(context.Context) ([]Pod, error) { return nil, errors.New("runtime down") })
	if _, err := testutil.CollectAndFormat(c, expfmt.TypeTextPlain); err == nil || !strings.Contains(err.Error(), "runtime down") {
		t.Errorf("scrape error = %v, want the list's error", err)
	}
}
