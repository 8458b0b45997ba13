package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomMessage says, from the cgroup files, which cgroup hit its memory limit
// when the OOM killer ended a container — the container's own or its
// pod's — with that limit and the memory peaks. A container's cgroup is
// new for each attempt, so its counts are this attempt's; the pod's last
// across restarts, so the container's level is looked at first. "" when the
// files do not tell.
//
// On cgroup v2 the level is the one whose memory.events.local counts an
// "oom" (the limit was hit and reclaim failed), the peak memory.peak
// (kernel 5.19 or later); on v1 the one whose memory.failcnt is not zero,
// the peak memory.max_usage_in_bytes.
func oomMessage(paths map[string]string) string {
	events, limit, peak := "memory.events.local", "memory.max", "memory.peak"
	dir, ok := paths["memory"]
	if ok {
		events, limit, peak = "memory.failcnt", "memory.limit_in_bytes", "memory.max_usage_in_bytes"
	} else if dir, ok = paths[""]; !ok {
		return ""
	}
	count := func(d string) uint64 {
		data, err := os.ReadFile(filepath.Join(d, events))
		if err != nil {
			return 0
		}
		if events == "memory.failcnt" {
			n, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
			return n
		}
		n, _ := keyedValue(data, "oom")
		return n
	}
	pod := filepath.Dir(dir)
	level, at := "", ""
	switch {
	case count(dir) > 0:
		level, at = "container", dir
	case count(pod) > 0:
		level, at = "pod", pod
	default:
		return ""
	}
	return fmt.Sprintf("OOM killed: the %s's memory limit was hit (%s %s); %s: container %s, pod %s",
		level, limit, cgroupValue(at, limit), peak, cgroupValue(dir, peak), cgroupValue(pod, peak))
}

// cgroupValue is a one-value cgroup file's content, "unknown" when unread.
func cgroupValue(dir, file string) string {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}
