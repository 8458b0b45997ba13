//go:build vm

package stats

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// TestV2PressureMetrics reads a real pod cgroup's PSI through the pressure
// collector: a spinning helper in a pod throttled to a tenth of a CPU waits
// for the CPU, and every series lies between the kernel's totals read just
// before and just after the scrape.
func TestV2PressureMetrics(t *testing.T) {
	pod, app := testCgroups(t)
	startBusy(t, app)
	write(t, cgroupFS, filepath.Join(pod, "cpu.max"), "10000 100000")
	time.Sleep(3 * time.Second)
	c, err := New(Config{NodeName: "nodevm"})
	if err != nil {
		t.Fatal(err)
	}
	collector := c.PressureCollector(func(context.Context) ([]Pod, error) {
		return []Pod{{UID: "uid-1", Namespace: "default", Name: "busy", CgroupPath: pod}}, nil
	})

	read := func() map[string]*statsapi.PSIStats {
		out := map[string]*statsapi.PSIStats{}
		for _, r := range []string{"cpu", "memory", "io"} {
			p, err := readPSI(filepath.Join(cgroupFS, pod, r+".pressure"))
			if err != nil {
				t.Fatalf("%s.pressure: %v (CONFIG_PSI=y?)", r, err)
			}
			out[r] = p
		}
		return out
	}
	before := read()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	after := read()

	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if labels(m)["pod"] != "busy" || labels(m)["namespace"] != "default" {
				t.Errorf("%s has labels %v, want pod busy in default", f.GetName(), labels(m))
			}
			got[f.GetName()] = m.GetCounter().GetValue()
		}
	}
	for _, r := range []string{"cpu", "memory", "io"} {
		for kind, d := range map[string]func(*statsapi.PSIStats) statsapi.PSIData{
			"waiting": func(p *statsapi.PSIStats) statsapi.PSIData { return p.Some },
			"stalled": func(p *statsapi.PSIStats) statsapi.PSIData { return p.Full },
		} {
			name := "container_pressure_" + r + "_" + kind + "_seconds_total"
			v, ok := got[name]
			lo, hi := psiSeconds(d(before[r])), psiSeconds(d(after[r]))
			if !ok || v < lo || v > hi {
				t.Errorf("%s = %v (present %v), want within the kernel's %v..%v", name, v, ok, lo, hi)
			}
		}
	}
	t.Logf("pressure: %v", got)
	// Throttled to 10 ms per 100 ms, the spinning helper is runnable and
	// waiting most of the time.
	if v := got["container_pressure_cpu_waiting_seconds_total"]; v < 0.5 {
		t.Errorf("cpu waiting = %vs after 3s throttled to a tenth of a CPU, want at least 0.5s", v)
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
