package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
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
