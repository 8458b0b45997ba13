package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's Prometheus metrics, named as kube-proxy's. The caller registers
// Collectors() with its registry.
type Metrics struct {
	// SyncDuration is the time one sync took (compute + kernel calls).
	SyncDuration prometheus.Histogram
	// ProgrammingLatency is the time from a change of a Service or EndpointSlice (the
	// EndpointSlice's endpoints.kubernetes.io/last-change-trigger-time when set, otherwise when the
	// informer delivered it) until the sync that put it into the kernel finished.
	ProgrammingLatency prometheus.Histogram
	// DeliveryLatency is the time from the informer's delivery of a Service or EndpointSlice
	// change on this node until the sync that put it into the kernel finished: the node's own
	// share of ProgrammingLatency, measured on one clock.
	DeliveryLatency prometheus.Histogram
	// VirtualServers, RealServers (by state: "serving", or "draining" at weight 0) and
	// Addresses count what the last successful sync left in the kernel.
	VirtualServers prometheus.Gauge
	RealServers    *prometheus.GaugeVec
	Addresses      prometheus.Gauge
	// LastSync is the Unix time of the last successful sync.
	LastSync prometheus.Gauge
	// SyncErrors counts failed syncs.
	SyncErrors prometheus.Counter
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		SyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kubeproxy_sync_proxy_rules_duration_seconds",
			Help:    "SyncProxyRules latency in seconds",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		ProgrammingLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kubeproxy_network_programming_duration_seconds",
			Help: "In Cluster Network Programming Latency in seconds",
			Buckets: merge(
				prometheus.LinearBuckets(0.25, 0.25, 2), // 0.25s, 0.50s
				prometheus.LinearBuckets(1, 1, 59),      // 1s, 2s, 3s, ... 59s
				prometheus.LinearBuckets(60, 5, 12),     // 60s, 65s, 70s, ... 115s
				prometheus.LinearBuckets(120, 30, 7),    // 2min, 2.5min, 3min, ..., 5min
			),
		}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kubelet_lite_proxy_delivery_to_kernel_duration_seconds",
			Help:    "Time from the delivery of a Service or EndpointSlice change to this node until it was in the kernel",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		VirtualServers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubelet_lite_proxy_ipvs_virtual_servers",
			Help: "IPVS virtual servers the last successful sync left in the kernel",
		}),
		RealServers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubelet_lite_proxy_ipvs_real_servers",
			Help: "IPVS real servers the last successful sync left in the kernel, serving or draining (weight 0)",
		}, []string{"state"}),
		Addresses: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubelet_lite_proxy_ipvs_addresses",
			Help: "Service addresses bound to kube-ipvs0 after the last successful sync",
		}),
		LastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
			Help: "The last time proxy rules were successfully synced",
		}),
		SyncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubelet_lite_proxy_sync_errors_total",
			Help: "Syncs of the IPVS proxy that failed (and were retried)",
		}),
	}
}

// Collectors returns the metrics for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.SyncDuration, m.ProgrammingLatency, m.DeliveryLatency,
		m.VirtualServers, m.RealServers, m.Addresses, m.LastSync, m.SyncErrors}
}

// observeState sets the gauges from the state a successful sync put into the kernel.
func (m *Metrics) observeState(st State) {
	serving, draining := 0, 0
	for _, d := range st.Services {
		for _, r := range d.RealServers {
			if r.Weight > 0 {
				serving++
			} else {
				draining++
			}
		}
	}
	m.VirtualServers.Set(float64(len(st.Services)))
	m.RealServers.WithLabelValues("serving").Set(float64(serving))
	m.RealServers.WithLabelValues("draining").Set(float64(draining))
	m.Addresses.Set(float64(len(st.Addresses)))
}

func merge(bs ...[]float64) []float64 {
	var out []float64
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}
