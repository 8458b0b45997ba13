package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one run of `bench start`; times in seconds, memory in MiB.
type result struct {
	N, Run int
	Load   string  // 1-minute load average when the run began
	Busy   float64 // percent of all CPUs busy in the second before it
	// LandSpread is how long the renames of all manifests took.
	LandSpread float64
	// AllRunning is from the first manifest landing until a ps call saw
	// every container running (an upper bound, see waitRunning).
	AllRunning float64
	// LastStart is the latest container StartedAt minus the first landing.
	LastStart float64
	// P50, P99 and Max are per pod: its StartedAt minus its own landing.
	P50, P99, Max float64
	// MachineCPU is the CPU time all processes used from just before the
	// first landing until all were seen running (CPU-seconds, 2 CPUs give
	// at most 2 per second); AgentCPU the agent's own share (not its
	// children: container inits, runc init), PsCPU the ps calls' share.
	MachineCPU, AgentCPU, PsCPU float64
	// Teardown is from removing the manifests until ps listed no pod.
	Teardown float64
	Restarts int
	Memory   memory
	PsCalls  int
	PsMeanMs float64
	PsMaxMs  float64
}

// setLatencies derives the per-pod start latencies from the StartedAt times
// the runtime recorded (the agent's clock, the same machine).
func (r *result) setLatencies(o options, pods []psPod, landed []time.Time) error {
	t0 := landed[0]
	var lat []float64
	for _, p := range pods {
		var i int
		if _, err := fmt.Sscanf(strings.TrimSuffix(p.Name, "-"+o.node), "bench-%d", &i); err != nil || i < 0 || i >= len(landed) {
			return fmt.Errorf("pod %q is not one of the benchmark's", p.Name)
		}
		var started time.Time
		for _, c := range p.Containers {
			if c.StartedAt.After(started) {
				started = c.StartedAt
			}
			r.Restarts += c.Attempt
		}
		lat = append(lat, started.Sub(landed[i]).Seconds())
		r.LastStart = max(r.LastStart, started.Sub(t0).Seconds())
	}
	if len(lat) != o.n {
		return fmt.Errorf("ps lists %d pods, want %d", len(lat), o.n)
	}
	slices.Sort(lat)
	r.P50, r.P99, r.Max = percentile(lat, 50), percentile(lat, 99), lat[len(lat)-1]
	return nil
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r result) summary() string {
	m := r.Memory
	return fmt.Sprintf("N=%d run %d: all running %.3fs (last StartedAt %.3fs), per pod p50 %.3fs p99 %.3fs max %.3fs, "+
		"teardown %.3fs; overhead %.1f MiB PSS (agent %.1f, %d pause %.1f, %d pid1 %.1f, %d other %.1f; private %.1f), "+
		"agent RSS %.1f MiB, %d apps %.1f MiB PSS; CPU-s to all running: machine %.2f, agent %.2f, ps %.2f; restarts %d; %d ps calls, mean %.1f ms, max %.1f ms; load %s, CPUs %.0f%% busy before",
		r.N, r.Run, r.AllRunning, r.LastStart, r.P50, r.P99, r.Max, r.Teardown,
		m.OverheadPSS, m.AgentPSS, m.Pauses, m.PausePSS, m.Inits, m.InitPSS, m.Others, m.OtherPSS, m.OverheadPrivate,
		m.AgentRSS, m.Apps, m.AppPSS, r.MachineCPU, r.AgentCPU, r.PsCPU, r.Restarts, r.PsCalls, r.PsMeanMs, r.PsMaxMs, r.Load, r.Busy)
}

// columns are the table's numeric columns: header and value.
var columns = []struct {
	head string
	get  func(result) float64
	fmt  string
}{
	{"all-running s", func(r result) float64 { return r.AllRunning }, "%.3f"},
	{"last-start s", func(r result) float64 { return r.LastStart }, "%.3f"},
	{"pod p50 s", func(r result) float64 { return r.P50 }, "%.3f"},
	{"pod p99 s", func(r result) float64 { return r.P99 }, "%.3f"},
	{"teardown s", func(r result) float64 { return r.Teardown }, "%.3f"},
	{"overhead PSS MiB", func(r result) float64 { return r.Memory.OverheadPSS }, "%.1f"},
	{"per pod MiB", func(r result) float64 { return r.Memory.OverheadPSS / float64(r.N) }, "%.2f"},
	{"private MiB", func(r result) float64 { return r.Memory.OverheadPrivate }, "%.1f"},
	{"agent PSS", func(r result) float64 { return r.Memory.AgentPSS }, "%.1f"},
	{"agent RSS", func(r result) float64 { return r.Memory.AgentRSS }, "%.1f"},
	{"apps PSS", func(r result) float64 { return r.Memory.AppPSS }, "%.1f"},
	{"CPU-s", func(r result) float64 { return r.MachineCPU }, "%.2f"},
	{"agent CPU-s", func(r result) float64 { return r.AgentCPU }, "%.2f"},
	{"ps CPU-s", func(r result) float64 { return r.PsCPU }, "%.2f"},
	{"ps ms", func(r result) float64 { return r.PsMeanMs }, "%.1f"},
}

func tableCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: bench table RESULTS.jsonl")
	}
	results, err := readResults(args[0])
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := []string{"N", "run", "load", "busy%"}
	for _, c := range columns {
		head = append(head, c.head)
	}
	fmt.Fprintln(w, strings.Join(head, "\t")+"\t")
	var counts []int
	for _, r := range results {
		if !slices.Contains(counts, r.N) {
			counts = append(counts, r.N)
		}
	}
	for _, n := range counts {
		var runs []result
		for _, r := range results {
			if r.N == n {
				runs = append(runs, r)
				fmt.Fprintln(w, row(fmt.Sprint(r.N), fmt.Sprint(r.Run), r.Load, fmt.Sprintf("%.0f", r.Busy), func(c func(result) float64) float64 { return c(r) }))
			}
		}
		fmt.Fprintln(w, row(fmt.Sprint(n), "median", "", "", func(c func(result) float64) float64 {
			v := make([]float64, len(runs))
			for i, r := range runs {
				v[i] = c(r)
			}
			return median(v)
		}))
	}
	return w.Flush()
}

func row(n, run, load, busy string, value func(func(result) float64) float64) string {
	cells := []string{n, run, load, busy}
	for _, c := range columns {
		cells = append(cells, fmt.Sprintf(c.fmt, value(c.get)))
	}
	return strings.Join(cells, "\t") + "\t"
}

func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("decode result: %w", err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
