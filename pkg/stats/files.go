package stats

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// This file parses the kernel's file formats; it does no I/O beyond reading
// the one file asked for.

// readUint reads a file that holds one number, or "max" (math.MaxUint64).
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// readKeyValues reads a flat-keyed file of "key value" lines (cpu.stat,
// memory.stat, /proc/vmstat).
func readKeyValues(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %q: %w", path, line, err)
		}
		out[f[0]] = v
	}
	return out, nil
}

// readPSI reads a pressure file (cpu.pressure, /proc/pressure/io):
//
//	some avg10=0.12 avg60=0.05 avg300=0.01 total=123456
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// Totals are kept as the kernel writes them (microseconds), as upstream's
// kubelet passes them on from cAdvisor.
func readPSI(path string) (*statsapi.PSIStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out statsapi.PSIStats
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var d *statsapi.PSIData
		switch f[0] {
		case "some":
			d = &out.Some
		case "full":
			d = &out.Full
		default:
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("parse %s: field %q", path, kv)
			}
			var err error
			switch k {
			case "avg10":
				d.Avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				d.Total, err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("parse %s: %s: %w", path, kv, err)
			}
		}
	}
	return &out, nil
}

// readMeminfo reads /proc/meminfo into bytes by key ("MemTotal", "Inactive(file)").
func readMeminfo(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for line := range strings.Lines(string(b)) {
		k, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %q: %w", path, line, err)
		}
		if len(f) == 2 && f[1] == "kB" {
			v *= 1024
		}
		out[k] = v
	}
	return out, nil
}

// procStat is what the node reports from /proc/stat.
type procStat struct {
	// cpuNanos is the time all CPUs spent busy: the "cpu" line less idle
	// and iowait (guest time is already counted in user and nice).
	cpuNanos uint64
	// bootTime is btime, in seconds since the epoch.
	bootTime int64
}

// userHZ is the unit of /proc/stat's times (USER_HZ, 100 on every Linux
// architecture Go supports).
const userHZ = 100

func readProcStat(path string) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	var out procStat
	var sawCPU, sawBtime bool
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "cpu":
			// user nice system idle iowait irq softirq steal guest guest_nice
			var busy uint64
			for i, s := range f[1:] {
				v, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					return procStat{}, fmt.Errorf("parse %s: cpu: %w", path, err)
				}
				if i == 3 || i == 4 || i >= 8 {
					continue // idle, iowait; guest times are in user and nice
				}
				busy += v
			}
			out.cpuNanos = busy * (1e9 / userHZ)
			sawCPU = true
		case "btime":
			out.bootTime, err = strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return procStat{}, fmt.Errorf("parse %s: btime: %w", path, err)
			}
			sawBtime = true
		}
	}
	if !sawCPU || !sawBtime {
		return procStat{}, fmt.Errorf("parse %s: no cpu or btime line", path)
	}
	return out, nil
}

// ignoredInterface reports interfaces cAdvisor leaves out of network stats.
func ignoredInterface(name string) bool {
	return name == "lo" || strings.HasPrefix(name, "veth") || strings.HasPrefix(name, "docker")
}

// readNetDev reads a /proc/<pid>/net/dev table: the interfaces of that
// process's network namespace, in the kernel's order, without loopback and
// host-side veths.
func readNetDev(path string) ([]statsapi.InterfaceStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []statsapi.InterfaceStats
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 0; sc.Scan(); n++ {
		if n < 2 {
			continue // two header lines
		}
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("parse %s: line %q", path, sc.Text())
		}
		name = strings.TrimSpace(name)
		if ignoredInterface(name) {
			continue
		}
		// receive: bytes packets errs drop fifo frame compressed multicast,
		// transmit: bytes packets errs drop fifo colls carrier compressed
		f := strings.Fields(rest)
		if len(f) < 16 {
			return nil, fmt.Errorf("parse %s: %s has %d fields", path, name, len(f))
		}
		var v [4]uint64
		for i, col := range []int{0, 2, 8, 10} {
			v[i], err = strconv.ParseUint(f[col], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %s: %w", path, name, err)
			}
		}
		out = append(out, statsapi.InterfaceStats{
			Name: name, RxBytes: &v[0], RxErrors: &v[1], TxBytes: &v[2], TxErrors: &v[3],
		})
	}
	return out, sc.Err()
}

// readTaskCount reads the number of tasks (threads) on the host from
// /proc/loadavg's fourth field, "running/total".
func readTaskCount(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return 0, fmt.Errorf("parse %s: %q", path, b)
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0, fmt.Errorf("parse %s: %q", path, f[3])
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return n, nil
}

// procPath joins the parts below the proc root.
func procPath(root string, parts ...string) string {
	return filepath.Join(append([]string{root}, parts...)...)
}
