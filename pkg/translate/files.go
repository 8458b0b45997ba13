package translate

import (
	"strconv"

	"github.com/opencontainers/cgroups"
)

// V2Files returns the cgroup v2 files these values set, keyed by file name,
// each with the text the kernel file holds after the write: "cpu.weight"
// (from CPUShares, by opencontainers/cgroups' conversion), "cpu.max"
// ("<quota> <period>" or "max <period>"), "memory.max" (bytes or "max"),
// "pids.max" (only when PidsMax != 0) and "memory.oom.group" (only when
// OOMGroup). Zero values mean unset, as in opencontainers/cgroups: a zero
// CPUShares, a zero CPUQuota with a zero CPUPeriod and a zero MemoryMax
// leave their files out.
func (r Resources) V2Files() map[string]string {
	files := make(map[string]string, 5)
	if r.CPUShares != 0 {
		files["cpu.weight"] = strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(r.CPUShares), 10)
	}
	if r.CPUQuota != 0 || r.CPUPeriod != 0 {
		files["cpu.max"] = cpuMax(r.CPUQuota, r.CPUPeriod)
	}
	if r.MemoryMax != 0 {
		files["memory.max"] = maxOrInt(r.MemoryMax)
	}
	if r.PidsMax != 0 {
		files["pids.max"] = maxOrInt(r.PidsMax)
	}
	if r.OOMGroup {
		files["memory.oom.group"] = "1"
	}
	return files
}

// cpuMax is the cpu.max line; a quota of 0 or less means "max", and a
// period of 0 is left out (the kernel then keeps the current period).
func cpuMax(quota int64, period uint64) string {
	s := "max"
	if quota > 0 {
		s = strconv.FormatInt(quota, 10)
	}
	if period != 0 {
		s += " " + strconv.FormatUint(period, 10)
	}
	return s
}

// maxOrInt is "max" for negative values, else the decimal value.
func maxOrInt(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}
