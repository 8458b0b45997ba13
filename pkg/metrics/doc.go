// Package metrics is the agent's own Prometheus metrics, served on the
// kubelet API's /metrics: pod start latency on upstream's SLI definition,
// pod worker sync durations, container starts, restarts and OOM kills, image
// pulls, the running pods and containers, and client-go's request metrics.
// Names, labels and buckets are upstream's kubelet's (pkg/kubelet/metrics)
// where it has the metric; the few it lacks say so in their help.
//
// Kubelet's hooks are safe to call on a nil *Kubelet, so a part built
// without metrics needs no checks.
package metrics
