package stats

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// cgroupSample is what one cgroup v2 directory reports. A nil field is a
// file that was missing or unreadable.
type cgroupSample struct {
	cpuUsage   *uint64           // cpu.stat usage_usec, in nanoseconds
	memCurrent *uint64           // memory.current
	memMax     *uint64           // memory.max; nil when unlimited
	memStat    map[string]uint64 // memory.stat
	swapCur    *uint64           // memory.swap.current
	swapMax    *uint64           // memory.swap.max; nil when unlimited
	pids       *uint64           // pids.current: tasks, threads included
	cpuPSI     *statsapi.PSIStats
	memPSI     *statsapi.PSIStats
	ioPSI      *statsapi.PSIStats
}

// unlimited is upstream's threshold: a limit above 2^62 bytes means none
// (cgroup v2 writes "max", v1 a page-rounded MaxInt64).
const unlimited = uint64(1) << 62

// readCgroup reads the files of the cgroup at dir. What it cannot read it
// leaves out, and says so at V(4).
func readCgroup(logger logr.Logger, dir string) cgroupSample {
	var s cgroupSample
	skip := func(file string, err error) {
		if errors.Is(err, fs.ErrNotExist) {
			logger.V(4).Info("Cgroup file missing, leaving its stats out", "dir", dir, "file", file)
			return
		}
		logger.V(4).Info("Cannot read cgroup file, leaving its stats out", "dir", dir, "file", file, "err", err)
	}
	num := func(file string, limit bool) *uint64 {
		v, err := readUint(filepath.Join(dir, file))
		if err != nil {
			skip(file, err)
			return nil
		}
		if limit && v > unlimited {
			return nil
		}
		return &v
	}
	psi := func(file string) *statsapi.PSIStats {
		p, err := readPSI(filepath.Join(dir, file))
		if err != nil {
			skip(file, err)
			return nil
		}
		return p
	}

	if cpu, err := readKeyValues(filepath.Join(dir, "cpu.stat")); err != nil {
		skip("cpu.stat", err)
	} else if usec, ok := cpu["usage_usec"]; ok {
		ns := usec * 1000
		s.cpuUsage = &ns
	}
	s.memCurrent = num("memory.current", false)
	if s.memCurrent != nil {
		s.memMax = num("memory.max", true)
		s.swapCur = num("memory.swap.current", false)
		if s.swapCur != nil {
			s.swapMax = num("memory.swap.max", true)
		}
	}
	if m, err := readKeyValues(filepath.Join(dir, "memory.stat")); err != nil {
		skip("memory.stat", err)
	} else {
		s.memStat = m
	}
	s.pids = num("pids.current", false)
	s.cpuPSI = psi("cpu.pressure")
	s.memPSI = psi("memory.pressure")
	s.ioPSI = psi("io.pressure")
	return s
}

// memoryStats is the Summary's view of the cgroup's memory, as cAdvisor
// computes it on cgroup v2: the working set is usage less inactive file
// pages (never below zero), RSS is anonymous memory, and the available bytes
// are the limit less the working set, only when there is a limit.
func (s cgroupSample) memoryStats(t metav1.Time) *statsapi.MemoryStats {
	if s.memCurrent == nil && s.memStat == nil && s.memPSI == nil {
		return nil
	}
	out := &statsapi.MemoryStats{Time: t, PSI: s.memPSI}
	if s.memCurrent != nil {
		usage := *s.memCurrent
		ws := workingSet(usage, s.memStat, "inactive_file")
		out.UsageBytes, out.WorkingSetBytes = &usage, &ws
		if s.memMax != nil {
			avail := sub(*s.memMax, ws)
			out.AvailableBytes = &avail
		}
	}
	if s.memStat != nil {
		out.RSSBytes = value(s.memStat, "anon")
		out.PageFaults = value(s.memStat, "pgfault")
		out.MajorPageFaults = value(s.memStat, "pgmajfault")
	}
	return out
}

// swapStats is the swap the cgroup uses, and what it may still use when
// memory.swap.max limits it.
func (s cgroupSample) swapStats(t metav1.Time) *statsapi.SwapStats {
	if s.swapCur == nil {
		return nil
	}
	used := *s.swapCur
	out := &statsapi.SwapStats{Time: t, SwapUsageBytes: &used}
	if s.swapMax != nil {
		avail := sub(*s.swapMax, used)
		out.SwapAvailableBytes = &avail
	}
	return out
}

func (s cgroupSample) ioStats(t metav1.Time) *statsapi.IOStats {
	if s.ioPSI == nil {
		return nil
	}
	return &statsapi.IOStats{Time: t, PSI: s.ioPSI}
}

func (s cgroupSample) processStats() *statsapi.ProcessStats {
	if s.pids == nil {
		return nil
	}
	n := *s.pids
	return &statsapi.ProcessStats{ProcessCount: &n}
}

// workingSet is usage less the inactive file pages under key, floored at 0.
func workingSet(usage uint64, stat map[string]uint64, key string) uint64 {
	if inactive, ok := stat[key]; ok {
		return sub(usage, inactive)
	}
	return usage
}

// sub is a - b, or 0 when b is larger.
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// value returns a copy of m[key], or nil when the key is absent.
func value(m map[string]uint64, key string) *uint64 {
	v, ok := m[key]
	if !ok {
		return nil
	}
	return &v
}
