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
//
// Storage (container rootfs and logs, pod volumes and ephemeral storage, the
// node's image and container filesystems) is the statfs of each directory's
// filesystem, read at every scrape, and the directory's own usage, walked
// as du does by one background goroutine at most every UsageInterval (10s):
// a scrape never walks a tree, and a directory's usage appears once its
// first walk has ended (see usageCache).
package stats
