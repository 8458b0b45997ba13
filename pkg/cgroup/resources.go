package cgroup

import (
	"path"

	"github.com/opencontainers/cgroups"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// Resources converts the translator's values into the library's, for the
// cgroup version of this host.
func Resources(r translate.Resources) *cgroups.Resources {
	return resources(r, cgroups.IsCgroup2UnifiedMode())
}

// resources converts for cgroup v2 (v2) or v1. The library writes cpu.weight
// only from CpuWeight on v2, so the shares are converted here; and
// memory.oom.group has no v1 counterpart.
func resources(r translate.Resources, v2 bool) *cgroups.Resources {
	out := &cgroups.Resources{
		CpuShares: r.CPUShares,
		CpuQuota:  r.CPUQuota,
		CpuPeriod: r.CPUPeriod,
		Memory:    r.MemoryMax,
		// Devices are left to the container runtime; the pod level never sets them.
		SkipDevices: true,
	}
	if v2 {
		out.CpuShares = 0
		out.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(r.CPUShares)
	}
	if r.PidsMax != 0 {
		p := r.PidsMax
		out.PidsLimit = &p
	}
	if r.OOMGroup && v2 {
		out.Unified = map[string]string{"memory.oom.group": "1"}
	}
	return out
}

// Abs joins the agent's cgroup root (an absolute cgroup path such as "/" or
// "/system.slice/kubelet-lite") with a path the translator made.
func Abs(root, rel string) string {
	return path.Join("/", root, rel)
}
