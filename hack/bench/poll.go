package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// psContainer and psPod mirror what `kubelet-lite ps -o json` prints.
type psContainer struct {
	Name      string
	Attempt   int
	State     string
	PID       int
	StartedAt time.Time
}

type psPod struct {
	UID, Namespace, Name string
	SandboxPID           int
	Containers           []psContainer
}

// poller runs `kubelet-lite ps -o json` and keeps count of its cost.
type poller struct {
	o              options
	calls          int
	total, longest time.Duration
	// cpu is the user+system time the ps processes used.
	cpu time.Duration
}

func (p *poller) ps() ([]psPod, error) {
	start := time.Now()
	var out, errb bytes.Buffer
	cmd := exec.Command(p.o.bin, "ps", "--root-dir", p.o.root, "-o", "json")
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	d := time.Since(start)
	p.calls++
	p.total += d
	p.longest = max(p.longest, d)
	if cmd.ProcessState != nil {
		p.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return nil, fmt.Errorf("kubelet-lite ps: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var pods []psPod
	if err := json.Unmarshal(out.Bytes(), &pods); err != nil {
		return nil, fmt.Errorf("decode ps output: %w", err)
	}
	return pods, nil
}

// waitRunning polls until all N pods run all their containers. It returns
// the pods and the time the last ps call that saw them so returned (an upper
// bound: the state was reached at most one poll interval plus one ps call
// earlier).
func (p *poller) waitRunning(t0 time.Time) ([]psPod, time.Time, error) {
	deadline := t0.Add(p.o.startTimeout)
	var pods []psPod
	for time.Now().Before(deadline) {
		var err error
		if pods, err = p.ps(); err != nil {
			return nil, time.Time{}, err
		}
		seen := time.Now()
		if running(pods) == p.o.n {
			return pods, seen, nil
		}
		if err := agentAlive(p.o.agentPID); err != nil {
			return nil, time.Time{}, err
		}
		time.Sleep(p.o.poll)
	}
	return nil, time.Time{}, fmt.Errorf("only %d of %d pods running after %s; last ps: %s",
		running(pods), p.o.n, p.o.startTimeout, brief(pods))
}

// waitEmpty polls until ps lists no pod and returns when it saw that.
func (p *poller) waitEmpty(from time.Time) (time.Time, error) {
	deadline := from.Add(p.o.stopTimeout)
	var pods []psPod
	for time.Now().Before(deadline) {
		var err error
		if pods, err = p.ps(); err != nil {
			return time.Time{}, err
		}
		if len(pods) == 0 {
			return time.Now(), nil
		}
		if err := agentAlive(p.o.agentPID); err != nil {
			return time.Time{}, err
		}
		time.Sleep(p.o.poll)
	}
	return time.Time{}, fmt.Errorf("%d pods still listed %s after their manifests were removed: %s",
		len(pods), p.o.stopTimeout, brief(pods))
}

// running counts the pods whose sandbox and every container run.
func running(pods []psPod) int {
	n := 0
	for _, p := range pods {
		ok := p.SandboxPID > 0 && len(p.Containers) > 0
		for _, c := range p.Containers {
			ok = ok && c.State == "running" && c.PID > 0
		}
		if ok {
			n++
		}
	}
	return n
}

// brief describes pods in one line for error messages.
func brief(pods []psPod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "%s(sandbox %d", p.Name, p.SandboxPID)
		for _, c := range p.Containers {
			fmt.Fprintf(&b, " %s=%s#%d", c.Name, c.State, c.Attempt)
		}
		b.WriteString(") ")
	}
	return b.String()
}

// agentAlive fails when the agent process is gone or a zombie.
func agentAlive(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return fmt.Errorf("agent %d is gone: %w", pid, err)
	}
	if st, ok := procState(string(b)); !ok || st == "Z" || st == "X" {
		return fmt.Errorf("agent %d has exited (state %q)", pid, st)
	}
	return nil
}
