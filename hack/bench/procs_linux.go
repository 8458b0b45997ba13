package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// memory is the node overhead once every pod runs, in MiB. The overhead is
// the agent, every sandbox (pause) and every container's PID 1 (the agent
// binary in init mode), plus any other process below the agent or a sandbox;
// the apps (children of each PID 1) are counted apart.
type memory struct {
	AgentPSS, AgentRSS, AgentPrivate float64
	PausePSS                         float64
	Pauses                           int
	InitPSS                          float64
	Inits                            int
	OtherPSS                         float64
	Others                           int
	OverheadPSS, OverheadPrivate     float64
	AppPSS                           float64
	Apps                             int
}

// smaps is one process's /proc/PID/smaps_rollup, in KiB.
type smaps struct{ rss, pss, private int }

func readSmaps(pid int) (smaps, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return smaps{}, fmt.Errorf("smaps of %d: %w", pid, err)
	}
	defer f.Close()
	var s smaps
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			s.rss = v
		case "Pss:":
			s.pss = v
		case "Private_Clean:", "Private_Dirty:":
			s.private += v
		}
	}
	return s, sc.Err()
}

// children maps each PID to its children's PIDs, from /proc/*/stat.
func children() (map[int][]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	kids := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if ppid, ok := procParent(string(b)); ok {
			kids[ppid] = append(kids[ppid], pid)
		}
	}
	return kids, nil
}

// procState and procParent read the fields after "(comm)" of a stat line;
// comm may hold spaces and parentheses.
func procState(stat string) (string, bool) {
	f := afterComm(stat)
	if len(f) < 1 {
		return "", false
	}
	return f[0], true
}

func procParent(stat string) (int, bool) {
	f := afterComm(stat)
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func afterComm(stat string) []string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(stat[i+1:])
}

// descendants lists every process below pid, not pid itself.
func descendants(kids map[int][]int, pid int) []int {
	var out []int
	queue := append([]int(nil), kids[pid]...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, kids[p]...)
	}
	return out
}

// sampleMemory classifies the agent's and the pods' processes and sums
// their PSS.
func sampleMemory(agentPID int, pods []psPod) (memory, error) {
	kids, err := children()
	if err != nil {
		return memory{}, err
	}
	role := map[int]string{agentPID: "agent"}
	for _, p := range pods {
		role[p.SandboxPID] = "pause"
		for _, c := range p.Containers {
			role[c.PID] = "init"
			for _, d := range descendants(kids, c.PID) {
				role[d] = "app"
			}
		}
	}
	for _, top := range append([]int{agentPID}, sandboxPIDs(pods)...) {
		for _, d := range descendants(kids, top) {
			if _, known := role[d]; !known {
				role[d] = "other"
			}
		}
	}
	var m memory
	for pid, r := range role {
		s, err := readSmaps(pid)
		if err != nil {
			return m, fmt.Errorf("%s process: %w", r, err)
		}
		m.add(r, s)
	}
	return m, nil
}

func sandboxPIDs(pods []psPod) []int {
	out := make([]int, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.SandboxPID)
	}
	return out
}

func (m *memory) add(role string, s smaps) {
	pss, private := mib(s.pss), mib(s.private)
	switch role {
	case "app":
		m.AppPSS += pss
		m.Apps++
		return
	case "agent":
		m.AgentPSS, m.AgentRSS, m.AgentPrivate = pss, mib(s.rss), private
	case "pause":
		m.PausePSS += pss
		m.Pauses++
	case "init":
		m.InitPSS += pss
		m.Inits++
	default:
		m.OtherPSS += pss
		m.Others++
	}
	m.OverheadPSS += pss
	m.OverheadPrivate += private
}

func mib(kib int) float64 { return float64(kib) / 1024 }

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

// procCPU is the user+system CPU time a process's threads used (not its
// children's).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := afterComm(string(b))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var ticks uint64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuSnapshot is the machine's busy CPU time, the agent's own CPU time and
// the ps calls' CPU time at one moment.
type cpuSnapshot struct{ machine, agent, ps time.Duration }

func snapshot(agentPID int, p *poller) (cpuSnapshot, error) {
	busy, _, err := cpuTimes()
	if err != nil {
		return cpuSnapshot{}, err
	}
	agent, err := procCPU(agentPID)
	if err != nil {
		return cpuSnapshot{}, err
	}
	return cpuSnapshot{machine: time.Duration(busy) * time.Second / clockTicks, agent: agent, ps: p.cpu}, nil
}

// cpuTimes reads the busy and total jiffies of all CPUs from /proc/stat.
func cpuTimes() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse /proc/stat: %w", err)
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, nil
}

// busyPercent is the share of all CPUs that was busy during d.
func busyPercent(d time.Duration) (float64, error) {
	b0, t0, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	b1, t1, err := cpuTimes()
	if err != nil {
		return 0, err
	}
	if t1 == t0 {
		return 0, nil
	}
	return 100 * float64(b1-b0) / float64(t1-t0), nil
}
