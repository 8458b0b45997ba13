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
	return []prometheus.Collector{m.SyncDuration, m.ProgrammingLatency, m.LastSync, m.SyncErrors}
}

func merge(bs ...[]float64) []float64 {
	var out []float64
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}
