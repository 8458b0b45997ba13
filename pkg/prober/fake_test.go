package prober

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// execCall is one Exec the fake received; the test answers on reply.
type execCall struct {
	container string
	cmd       []string
	opts      sandbox.ExecOptions
	reply     chan execReply
}

type execReply struct {
	code   int
	output string
	err    error
}

// fakeExecer hands every Exec to the test and returns its answer.
type fakeExecer struct{ calls chan execCall }

var _ Execer = (*fakeExecer)(nil)

func newFakeExecer() *fakeExecer { return &fakeExecer{calls: make(chan execCall, 16)} }

func (f *fakeExecer) Exec(ctx context.Context, uid types.UID, container string, opts sandbox.ExecOptions) (int, error) {
	c := execCall{container: container, cmd: opts.Cmd, opts: opts, reply: make(chan execReply, 1)}
	f.calls <- c
	select {
	case r := <-c.reply:
		if opts.Stdout != nil {
			fmt.Fprint(opts.Stdout, r.output)
		}
		return r.code, r.err
	case <-ctx.Done():
		return 137, fmt.Errorf("killed: %w", ctx.Err())
	}
}

// next waits for the next Exec and answers it.
func (f *fakeExecer) next(t *testing.T, wantCmd string, r execReply) {
	t.Helper()
	select {
	case c := <-f.calls:
		if c.cmd[0] != wantCmd {
			t.Fatalf("exec %v, want %s", c.cmd, wantCmd)
		}
		c.reply <- r
	case <-time.After(5 * time.Second):
		t.Fatalf("no exec of %s", wantCmd)
	}
}

// none checks that no Exec comes within a short while.
func (f *fakeExecer) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-f.calls:
		t.Fatalf("unexpected exec %v", c.cmd)
	case <-time.After(100 * time.Millisecond):
	}
}

// report is one Results call.
type report struct {
	container string
	kind      Kind
	result    Result
}

type harness struct {
	m       *Manager
	exec    *fakeExecer
	clock   *clocktesting.FakeClock
	reports chan report
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{exec: newFakeExecer(), clock: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		reports: make(chan report, 64)}
	m, err := New(Config{
		Execer:  h.exec,
		Network: func(types.UID) (PodNetwork, error) { return PodNetwork{Dialer: &net.Dialer{}}, nil },
		Results: func(_ types.UID, c string, k Kind, r Result) { h.reports <- report{c, k, r} },
		Clock:   h.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	return h
}

// add adds the pod's container "app" and waits for its n workers' tickers.
func (h *harness) add(t *testing.T, pod *corev1.Pod, workers int) {
	t.Helper()
	if err := h.m.Add(pod, "app", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.clock.Waiters() < workers {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers waiting, want %d", h.clock.Waiters(), workers)
		}
		time.Sleep(time.Millisecond)
	}
}

// expect checks the reports so far, in order, and that no other is pending.
func (h *harness) expect(t *testing.T, want ...report) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-h.reports:
			if got != w {
				t.Fatalf("report %+v, want %+v", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no report, want %+v", w)
		}
	}
	select {
	case got := <-h.reports:
		t.Fatalf("unexpected report %+v", got)
	default:
	}
}

func execProbeSpec(cmd string, mod func(*corev1.Probe)) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	if mod != nil {
		mod(p)
	}
	return p
}

func testPod(c corev1.Container) *corev1.Pod {
	c.Name = "app"
	grace := int64(30)
	return &corev1.Pod{
		ObjectMeta: metaFor("web"),
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}, TerminationGracePeriodSeconds: &grace},
	}
}

var errNotRunningForTest = sandbox.ErrNotRunning
