package translate

import corev1 "k8s.io/api/core/v1"

// Node holds the node settings that shape a pod's cgroups.
type Node struct {
	// PodPidsLimit is the pod-level pids.max; -1 means "max", 0 means unset.
	PodPidsLimit int64
}

// Resources are the typed cgroup values of one cgroup. The cgroup v2 file
// values are derived from them by V2Files; the same values drive cgroup v1
// through github.com/opencontainers/cgroups.
type Resources struct {
	// CPUShares is the cgroup v1 cpu.shares value (>= 2); cpu.weight is
	// derived from it with the conversion of opencontainers/cgroups v0.1.0.
	CPUShares uint64
	// CPUQuota is the cpu.max quota in µs per CPUPeriod; -1 means "max".
	CPUQuota int64
	// CPUPeriod is the cpu.max period in µs (100000).
	CPUPeriod uint64
	// MemoryMax is memory.max in bytes; -1 means "max".
	MemoryMax int64
	// PidsMax is pids.max; -1 means "max", 0 means the file is not set.
	PidsMax int64
	// OOMGroup sets memory.oom.group = 1 (containers since Kubernetes 1.28).
	OOMGroup bool
}

// Cgroup is one cgroup: its path relative to the cgroup root, and its values.
type Cgroup struct {
	Path      string
	Resources Resources
}

// Container is the cgroup of one container of a pod.
type Container struct {
	Name string
	// Init is true for init containers (including sidecars).
	Init bool
	Cgroup
}

// Result is what a pod spec becomes in cgroups.
type Result struct {
	QOSClass   corev1.PodQOSClass
	Pod        Cgroup
	Containers []Container
}
