package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench start FLAGS | bench table RESULTS.jsonl")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "start":
		err = startCmd(os.Args[2:])
	case "table":
		err = tableCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: want start or table", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the flags of `bench start`.
type options struct {
	bin, root, manifests, staging, node, image, out string
	agentPID, n, run                                int
	poll, settle, startTimeout, stopTimeout         time.Duration
	quietWait                                       time.Duration
	quietBelow                                      float64
}

func parseStart(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "", "the kubelet-lite binary (for ps)")
	fs.StringVar(&o.root, "root", "", "the agent's --root-dir")
	fs.StringVar(&o.manifests, "manifests", "", "the agent's --pod-manifest-path")
	fs.StringVar(&o.staging, "staging", "", "a directory on the same file system as --manifests")
	fs.StringVar(&o.node, "node", "bench", "the agent's --hostname-override (static pod names end in -NODE)")
	fs.StringVar(&o.image, "image", "kubelet-lite.local/busybox:v1", "the image of every pod")
	fs.StringVar(&o.out, "out", "", "append the result as one JSON line to this file")
	fs.IntVar(&o.agentPID, "agent-pid", 0, "the agent's PID")
	fs.IntVar(&o.n, "n", 10, "pods to start")
	fs.IntVar(&o.run, "run", 1, "run number, only recorded")
	fs.DurationVar(&o.poll, "poll", 50*time.Millisecond, "pause between two ps calls")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait after all are running before sampling memory")
	fs.DurationVar(&o.startTimeout, "start-timeout", 120*time.Second, "give up when not all are running by then")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 120*time.Second, "give up when ps is not empty by then")
	fs.DurationVar(&o.quietWait, "quiet-wait", 0, "wait up to this long for the CPUs to be less busy than --quiet-below")
	fs.Float64Var(&o.quietBelow, "quiet-below", 15, "busy percent of all CPUs (over 1 s) under which the machine counts as quiet")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.bin == "" || o.root == "" || o.manifests == "" || o.staging == "" || o.agentPID <= 0 || o.n < 1 {
		return o, errors.New("start needs --bin, --root, --manifests, --staging, --agent-pid and -n >= 1")
	}
	return o, nil
}

func startCmd(args []string) error {
	o, err := parseStart(args)
	if err != nil {
		return err
	}
	res, err := measure(o)
	if err != nil {
		return err
	}
	fmt.Println(res.summary())
	if o.out == "" {
		return nil
	}
	f, err := os.OpenFile(o.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open results: %w", err)
	}
	defer f.Close()
	return json.NewEncoder(f).Encode(res)
}

// measure runs one benchmark against the running agent: start N pods, sample
// memory, remove them.
func measure(o options) (result, error) {
	busy, err := waitQuiet(o)
	if err != nil {
		return result{}, err
	}
	res := result{N: o.n, Run: o.run, Load: loadAvg(), Busy: busy}
	names, err := stage(o)
	if err != nil {
		return res, err
	}
	p := poller{o: o}
	before, err := snapshot(o.agentPID, &p)
	if err != nil {
		return res, err
	}
	landed := make([]time.Time, len(names))
	for i, name := range names {
		landed[i] = time.Now()
		if err := os.Rename(filepath.Join(o.staging, name), filepath.Join(o.manifests, name)); err != nil {
			return res, fmt.Errorf("move manifest in: %w", err)
		}
	}
	t0 := landed[0]
	res.LandSpread = secs(time.Since(t0))
	pods, seen, err := p.waitRunning(t0)
	if err != nil {
		return res, err
	}
	after, err := snapshot(o.agentPID, &p)
	if err != nil {
		return res, err
	}
	res.MachineCPU, res.AgentCPU = secs(after.machine-before.machine), secs(after.agent-before.agent)
	res.PsCPU = secs(after.ps - before.ps)
	res.AllRunning = secs(seen.Sub(t0))
	if err := res.setLatencies(o, pods, landed); err != nil {
		return res, err
	}
	time.Sleep(o.settle)
	if pods, err = p.ps(); err != nil {
		return res, err
	}
	mem, err := sampleMemory(o.agentPID, pods)
	if err != nil {
		return res, err
	}
	res.Memory = mem
	removed := time.Now()
	for _, name := range names {
		if err := os.Remove(filepath.Join(o.manifests, name)); err != nil {
			return res, fmt.Errorf("remove manifest: %w", err)
		}
	}
	gone, err := p.waitEmpty(removed)
	if err != nil {
		return res, err
	}
	res.Teardown = secs(gone.Sub(removed))
	res.PsCalls, res.PsMeanMs, res.PsMaxMs = p.calls, ms(p.total)/float64(max(p.calls, 1)), ms(p.longest)
	return res, nil
}

// waitQuiet waits until the machine's CPUs are mostly idle, at most
// o.quietWait, and returns how busy they were over the last second: other
// work on a 2-CPU machine skews every number.
func waitQuiet(o options) (float64, error) {
	deadline := time.Now().Add(o.quietWait)
	warned := false
	for {
		busy, err := busyPercent(time.Second)
		if err != nil {
			return 0, err
		}
		if busy < o.quietBelow || time.Now().After(deadline) {
			return busy, nil
		}
		if !warned {
			fmt.Fprintf(os.Stderr, "bench: CPUs %.0f%% busy with other work; waiting up to %s for under %.0f%%\n",
				busy, o.quietWait, o.quietBelow)
			warned = true
		}
	}
}

// stage writes the manifests into the staging directory and returns their
// file names.
func stage(o options) ([]string, error) {
	names := make([]string, o.n)
	for i := range names {
		pod := fmt.Sprintf("bench-%03d", i)
		names[i] = pod + ".yaml"
		if err := os.WriteFile(filepath.Join(o.staging, names[i]), []byte(manifest(pod, o.image)), 0o644); err != nil {
			return nil, fmt.Errorf("write manifest: %w", err)
		}
	}
	return names, nil
}

// manifest is a Burstable busybox pod with tiny requests.
func manifest(name, image string) string {
	return strings.NewReplacer("NAME", name, "IMAGE", image).Replace(`apiVersion: v1
kind: Pod
metadata:
  name: NAME
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: IMAGE
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 10m, memory: 8Mi}
`)
}

func secs(d time.Duration) float64 { return d.Seconds() }
func ms(d time.Duration) float64   { return float64(d.Microseconds()) / 1000 }

// loadAvg is the first field of /proc/loadavg: other work on the machine
// skews the numbers, so every result records it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
