package stats

import (
	"encoding/json"
	"net/http"

	"k8s.io/component-base/metrics"
	"k8s.io/klog/v2"
)

// SummaryHandler serves GET /stats/summary: the Summary of the pods list
// returns, as JSON. With ?only_cpu_and_memory=true it serves CPUAndMemory,
// as upstream's does.
func (c *Collector) SummaryHandler(list PodSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		pods, err := list(r.Context())
		if err != nil {
			klog.FromContext(r.Context()).Error(err, "Cannot list pods for the stats summary")
			http.Error(w, "list pods: "+err.Error(), http.StatusInternalServerError)
			return
		}
		summary := c.Summary
		if r.URL.Query().Get("only_cpu_and_memory") == "true" {
			summary = c.CPUAndMemory
		}
		s := summary(r.Context(), pods)
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(s); err != nil {
			klog.FromContext(r.Context()).V(4).Info("Cannot write the stats summary", "err", err)
		}
	})
}

// ResourceMetricsHandler serves /metrics/resource for the pods list returns,
// in the Prometheus text format, as upstream's kubelet does.
func (c *Collector) ResourceMetricsHandler(list PodSource) http.Handler {
	return metrics.HandlerFor(c.resourceRegistry(list), metrics.HandlerOpts{ErrorHandling: metrics.ContinueOnError})
}
