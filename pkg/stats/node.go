package stats

import (
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// defaultInterface is the interface upstream reports as a network's default.
const defaultInterface = "eth0"

// node reads the node's stats: CPU and memory from the root cgroup, or from
// /proc where the root cgroup has no such files (cgroup v1); pressure,
// network, process limits and start time from /proc; the filesystem from
// RootDir.
func (c *Collector) node(logger logr.Logger, now metav1.Time, full bool) statsapi.NodeStats {
	proc := func(parts ...string) string { return procPath(c.cfg.ProcFS, parts...) }
	root := readCgroup(logger, c.cfg.CgroupFS)
	// The root cgroup has no pressure files; the kernel's own are the same.
	root.cpuPSI = c.psi(logger, proc("pressure", "cpu"))
	root.memPSI = c.psi(logger, proc("pressure", "memory"))
	root.ioPSI = c.psi(logger, proc("pressure", "io"))

	ns := statsapi.NodeStats{NodeName: c.cfg.NodeName}
	ps, err := readProcStat(proc("stat"))
	if err != nil {
		logger.V(4).Info("Cannot read /proc/stat, leaving node start time out", "err", err)
	} else {
		ns.StartTime = metav1.Unix(ps.bootTime, 0)
		if root.cpuUsage == nil {
			root.cpuUsage = &ps.cpuNanos
		}
	}
	ns.CPU = c.cpuStats(nodeKey, root, now, full)
	ns.Memory, ns.Swap = c.nodeMemory(logger, root, now)
	if c.cfg.PodsCgroup != "" {
		pods := c.container(logger, statsapi.SystemContainerPods, c.cfg.PodsCgroup, ns.StartTime.Time, now, full)
		ns.SystemContainers = []statsapi.ContainerStats{pods}
	}
	if !full {
		return ns
	}
	ns.IO = root.ioStats(now)
	ns.Network = c.network(logger, proc("net", "dev"), now)
	if c.cfg.RootDir != "" {
		fs, err := fsStats(c.cfg.RootDir, now)
		if err != nil {
			logger.V(4).Info("Cannot statfs the root dir, leaving node fs stats out", "err", err)
		}
		ns.Fs = fs
	}
	ns.Rlimit = c.rlimit(logger, now)
	return ns
}

// nodeMemory is the node's memory as cAdvisor reports its root container.
// On cgroup v2 the root cgroup has memory.stat but no memory.current: usage
// is anon + file (runc's emulation), the working set that less inactive_file.
// Without memory.stat (cgroup v1) the same figures come from /proc/meminfo:
// usage is MemTotal - MemFree, the working set that less Inactive(file).
// The available bytes are MemTotal less the working set.
func (c *Collector) nodeMemory(logger logr.Logger, root cgroupSample, now metav1.Time) (*statsapi.MemoryStats, *statsapi.SwapStats) {
	mi, err := readMeminfo(procPath(c.cfg.ProcFS, "meminfo"))
	if err != nil {
		logger.V(4).Info("Cannot read /proc/meminfo", "err", err)
	}
	out := &statsapi.MemoryStats{Time: now, PSI: root.memPSI}
	anon, hasAnon := root.memStat["anon"]
	file, hasFile := root.memStat["file"]
	switch {
	case hasAnon && hasFile:
		usage := anon + file
		ws := workingSet(usage, root.memStat, "inactive_file")
		out.UsageBytes, out.WorkingSetBytes = &usage, &ws
		out.RSSBytes = value(root.memStat, "anon")
		out.PageFaults = value(root.memStat, "pgfault")
		out.MajorPageFaults = value(root.memStat, "pgmajfault")
	case mi["MemTotal"] > 0:
		usage := sub(mi["MemTotal"], mi["MemFree"])
		ws := workingSet(usage, mi, "Inactive(file)")
		out.UsageBytes, out.WorkingSetBytes = &usage, &ws
		out.RSSBytes = value(mi, "AnonPages")
		if vm, err := readKeyValues(procPath(c.cfg.ProcFS, "vmstat")); err != nil {
			logger.V(4).Info("Cannot read /proc/vmstat, leaving node page faults out", "err", err)
		} else {
			out.PageFaults = value(vm, "pgfault")
			out.MajorPageFaults = value(vm, "pgmajfault")
		}
	}
	if total := mi["MemTotal"]; total > 0 && out.WorkingSetBytes != nil {
		avail := sub(total, *out.WorkingSetBytes)
		out.AvailableBytes = &avail
	}
	var swap *statsapi.SwapStats
	if total, ok := mi["SwapTotal"]; ok {
		used, free := sub(total, mi["SwapFree"]), mi["SwapFree"]
		swap = &statsapi.SwapStats{Time: now, SwapUsageBytes: &used, SwapAvailableBytes: &free}
	}
	if out.UsageBytes == nil && out.PSI == nil {
		return nil, swap
	}
	return out, swap
}

func (c *Collector) psi(logger logr.Logger, path string) *statsapi.PSIStats {
	p, err := readPSI(path)
	if err != nil {
		logger.V(4).Info("Cannot read pressure, leaving it out", "path", path, "err", err)
		return nil
	}
	return p
}

// network reads the interfaces of a net/dev table. The default interface is
// eth0 as upstream's, or else the first one.
func (c *Collector) network(logger logr.Logger, path string, now metav1.Time) *statsapi.NetworkStats {
	ifaces, err := readNetDev(path)
	if err != nil {
		logger.V(4).Info("Cannot read network stats, leaving them out", "path", path, "err", err)
		return nil
	}
	if len(ifaces) == 0 {
		return nil
	}
	out := &statsapi.NetworkStats{Time: now, InterfaceStats: ifaces[0], Interfaces: ifaces}
	for _, i := range ifaces {
		if i.Name == defaultInterface {
			out.InterfaceStats = i
		}
	}
	return out
}

// rlimit is the node's process limit (pid_max, or threads-max when lower) and
// its task count.
func (c *Collector) rlimit(logger logr.Logger, now metav1.Time) *statsapi.RlimitStats {
	out := &statsapi.RlimitStats{Time: now}
	for _, name := range []string{"pid_max", "threads-max"} {
		v, err := readUint(procPath(c.cfg.ProcFS, "sys", "kernel", name))
		if err != nil {
			logger.V(4).Info("Cannot read the process limit", "file", name, "err", err)
			continue
		}
		if n := int64(v); out.MaxPID == nil || n < *out.MaxPID {
			out.MaxPID = &n
		}
	}
	if n, err := readTaskCount(procPath(c.cfg.ProcFS, "loadavg")); err != nil {
		logger.V(4).Info("Cannot read the task count", "err", err)
	} else {
		out.NumOfRunningProcesses = &n
	}
	if out.MaxPID == nil && out.NumOfRunningProcesses == nil {
		return nil
	}
	return out
}
