package stats

import (
	"context"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/klog/v2"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// The resource metrics, named and described as upstream's kubelet serves
// them at /metrics/resource (pkg/kubelet/metrics/collectors), which
// metrics-server scrapes. Upstream's scrape_error, deprecated in 1.29, is
// hidden by a 1.37 kubelet and left out here; resource_scrape_error replaces it.
var (
	containerLabels = []string{"container", "pod", "namespace"}
	podLabels       = []string{"pod", "namespace"}

	nodeCPUDesc = metrics.NewDesc("node_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the node in core-seconds", nil, nil, metrics.STABLE, "")
	nodeMemoryDesc = metrics.NewDesc("node_memory_working_set_bytes",
		"Current working set of the node in bytes", nil, nil, metrics.STABLE, "")
	nodeSwapDesc = metrics.NewDesc("node_swap_usage_bytes",
		"Current swap usage of the node in bytes. Reported only on non-windows systems", nil, nil, metrics.ALPHA, "")
	containerCPUDesc = metrics.NewDesc("container_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the container in core-seconds", containerLabels, nil, metrics.STABLE, "")
	containerMemoryDesc = metrics.NewDesc("container_memory_working_set_bytes",
		"Current working set of the container in bytes", containerLabels, nil, metrics.STABLE, "")
	containerSwapDesc = metrics.NewDesc("container_swap_usage_bytes",
		"Current amount of the container swap usage in bytes. Reported only on non-windows systems", containerLabels, nil, metrics.ALPHA, "")
	containerSwapLimitDesc = metrics.NewDesc("container_swap_limit_bytes",
		"Current amount of the container swap limit in bytes. Reported only on non-windows systems", containerLabels, nil, metrics.ALPHA, "")
	containerStartDesc = metrics.NewDesc("container_start_time_seconds",
		"Start time of the container since unix epoch in seconds", containerLabels, nil, metrics.STABLE, "")
	podCPUDesc = metrics.NewDesc("pod_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the pod in core-seconds", podLabels, nil, metrics.STABLE, "")
	podMemoryDesc = metrics.NewDesc("pod_memory_working_set_bytes",
		"Current working set of the pod in bytes", podLabels, nil, metrics.STABLE, "")
	podSwapDesc = metrics.NewDesc("pod_swap_usage_bytes",
		"Current amount of the pod swap usage in bytes. Reported only on non-windows systems", podLabels, nil, metrics.ALPHA, "")
	resourceScrapeErrorDesc = metrics.NewDesc("resource_scrape_error",
		"1 if there was an error while getting container metrics, 0 otherwise", nil, nil, metrics.STABLE, "")
)

// PodSource lists the pods to report on, from the caller's runtime.
type PodSource func(ctx context.Context) ([]Pod, error)

// resourceRegistry returns a registry holding the resource metrics of the
// pods that list returns at each scrape.
func (c *Collector) resourceRegistry(list PodSource) metrics.KubeRegistry {
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(&resourceCollector{stats: c, list: list})
	return reg
}

// resourceCollector turns CPUAndMemory into metrics at each scrape, so that
// pods and containers that are gone leave no series behind.
type resourceCollector struct {
	metrics.BaseStableCollector
	stats *Collector
	list  PodSource
}

var _ metrics.StableCollector = (*resourceCollector)(nil)

func (r *resourceCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	for _, d := range []*metrics.Desc{nodeCPUDesc, nodeMemoryDesc, nodeSwapDesc, containerStartDesc,
		containerCPUDesc, containerMemoryDesc, containerSwapDesc, containerSwapLimitDesc,
		podCPUDesc, podMemoryDesc, podSwapDesc, resourceScrapeErrorDesc} {
		ch <- d
	}
}

func (r *resourceCollector) CollectWithStability(ch chan<- metrics.Metric) {
	ctx := context.Background()
	var scrapeErr float64
	defer func() {
		ch <- metrics.NewLazyConstMetric(resourceScrapeErrorDesc, metrics.GaugeValue, scrapeErr)
	}()
	pods, err := r.list(ctx)
	if err != nil {
		scrapeErr = 1
		klog.FromContext(ctx).Error(err, "Cannot list pods for the resource metrics")
		return
	}
	s := r.stats.CPUAndMemory(ctx, pods)
	collectNode(ch, s.Node)
	for _, p := range s.Pods {
		for _, c := range p.Containers {
			collectContainer(ch, p.PodRef, c)
		}
		collectPod(ch, p)
	}
}

func collectNode(ch chan<- metrics.Metric, n statsapi.NodeStats) {
	cpu(ch, n.CPU, nodeCPUDesc)
	memory(ch, n.Memory, nodeMemoryDesc)
	if n.Swap != nil && n.Swap.SwapUsageBytes != nil {
		gauge(ch, n.Swap.Time.Time, nodeSwapDesc, *n.Swap.SwapUsageBytes)
	}
}

func collectContainer(ch chan<- metrics.Metric, pod statsapi.PodReference, c statsapi.ContainerStats) {
	labels := []string{c.Name, pod.Name, pod.Namespace}
	if c.StartTime.Unix() > 0 {
		ch <- metrics.NewLazyConstMetric(containerStartDesc, metrics.GaugeValue,
			float64(c.StartTime.UnixNano())/float64(time.Second), labels...)
	}
	cpu(ch, c.CPU, containerCPUDesc, labels...)
	memory(ch, c.Memory, containerMemoryDesc, labels...)
	if s := c.Swap; s != nil {
		var used uint64
		if s.SwapUsageBytes != nil {
			used = *s.SwapUsageBytes
			gauge(ch, s.Time.Time, containerSwapDesc, used, labels...)
		}
		if s.SwapAvailableBytes != nil {
			gauge(ch, s.Time.Time, containerSwapLimitDesc, *s.SwapAvailableBytes+used, labels...)
		}
	}
}

func collectPod(ch chan<- metrics.Metric, p statsapi.PodStats) {
	labels := []string{p.PodRef.Name, p.PodRef.Namespace}
	cpu(ch, p.CPU, podCPUDesc, labels...)
	memory(ch, p.Memory, podMemoryDesc, labels...)
	if p.Swap != nil && p.Swap.SwapUsageBytes != nil {
		gauge(ch, p.Swap.Time.Time, podSwapDesc, *p.Swap.SwapUsageBytes, labels...)
	}
}

// cpu sends the cumulative CPU time in seconds, stamped with its sample time.
func cpu(ch chan<- metrics.Metric, s *statsapi.CPUStats, d *metrics.Desc, labels ...string) {
	if s == nil || s.UsageCoreNanoSeconds == nil {
		return
	}
	ch <- metrics.NewLazyMetricWithTimestamp(s.Time.Time, metrics.NewLazyConstMetric(d, metrics.CounterValue,
		float64(*s.UsageCoreNanoSeconds)/float64(time.Second), labels...))
}

// memory sends the working set, stamped with its sample time.
func memory(ch chan<- metrics.Metric, s *statsapi.MemoryStats, d *metrics.Desc, labels ...string) {
	if s == nil || s.WorkingSetBytes == nil {
		return
	}
	gauge(ch, s.Time.Time, d, *s.WorkingSetBytes, labels...)
}

func gauge(ch chan<- metrics.Metric, at time.Time, d *metrics.Desc, v uint64, labels ...string) {
	ch <- metrics.NewLazyMetricWithTimestamp(at, metrics.NewLazyConstMetric(d, metrics.GaugeValue, float64(v), labels...))
}
