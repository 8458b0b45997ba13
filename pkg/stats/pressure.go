package stats

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// pressureResource is one PSI file of a cgroup and the metrics it gives,
// named as cAdvisor names its container pressure metrics: the "some" total
// is the time some task waited, the "full" total the time all were stalled.
type pressureResource struct {
	file             string
	waiting, stalled *prometheus.Desc
}

var pressureResources = func() []pressureResource {
	labels := []string{"namespace", "pod"}
	var out []pressureResource
	for _, r := range []struct{ name, file, what string }{
		{"cpu", "cpu.pressure", "CPU"},
		{"memory", "memory.pressure", "memory"},
		{"io", "io.pressure", "IO"},
	} {
		out = append(out, pressureResource{
			file: r.file,
			waiting: prometheus.NewDesc("container_pressure_"+r.name+"_waiting_seconds_total",
				"Total time duration the pod's tasks have been waiting on "+r.what+", from the pod cgroup's "+r.file, labels, nil),
			stalled: prometheus.NewDesc("container_pressure_"+r.name+"_stalled_seconds_total",
				"Total time duration all the pod's tasks have been stalled on "+r.what+", from the pod cgroup's "+r.file, labels, nil),
		})
	}
	return out
}()

// PressureCollector reports each pod's pressure stall information (PSI) at
// every scrape, from the cpu.pressure, memory.pressure and io.pressure files
// of the pod cgroups of the pods list returns. A pod whose cgroup lacks a
// file (cgroup v1, a kernel without PSI) has none of its metrics.
func (c *Collector) PressureCollector(list PodSource) prometheus.Collector {
	return pressureCollector{cgroupFS: c.cfg.CgroupFS, list: list}
}

type pressureCollector struct {
	cgroupFS string
	list     PodSource
}

func (p pressureCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, r := range pressureResources {
		ch <- r.waiting
		ch <- r.stalled
	}
}

func (p pressureCollector) Collect(ch chan<- prometheus.Metric) {
	ctx := context.Background()
	logger := klog.FromContext(ctx)
	pods, err := p.list(ctx)
	if err != nil {
		logger.Error(err, "Cannot list pods for the pressure metrics")
		ch <- prometheus.NewInvalidMetric(pressureResources[0].waiting, err)
		return
	}
	for _, pod := range pods {
		if pod.CgroupPath == "" {
			continue
		}
		for _, r := range pressureResources {
			psi, err := readPSI(filepath.Join(p.cgroupFS, pod.CgroupPath, r.file))
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					logger.V(4).Info("Cannot read pressure file, leaving its metrics out", "pod", pod.Namespace+"/"+pod.Name, "file", r.file, "err", err)
				}
				continue
			}
			ch <- prometheus.MustNewConstMetric(r.waiting, prometheus.CounterValue, psiSeconds(psi.Some), pod.Namespace, pod.Name)
			ch <- prometheus.MustNewConstMetric(r.stalled, prometheus.CounterValue, psiSeconds(psi.Full), pod.Namespace, pod.Name)
		}
	}
}

// psiSeconds is a PSI total (microseconds, as the kernel writes it) in seconds.
func psiSeconds(d statsapi.PSIData) float64 { return float64(d.Total) / 1e6 }
