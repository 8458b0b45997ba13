// Package stats reads the node's and its pods' resource usage from cgroup v2
// files and /proc and reports it as upstream's kubelet does: the Summary API
// (k8s.io/kubelet/pkg/apis/stats/v1alpha1, served at /stats/summary) and the
// resource metrics metrics-server scrapes from /metrics/resource.
//
// The caller lists its pods (with their cgroup paths and sandbox pids); the
// Collector keeps only the previous CPU sample of each cgroup, to turn the
// cumulative usage into a rate. A file the host lacks (cgroup v1, a
// controller not enabled, an old kernel) leaves its fields out; it never
// fails the whole summary.
package stats
