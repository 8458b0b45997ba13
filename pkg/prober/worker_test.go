package prober

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func metaFor(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)}
}

var (
	ok   = execReply{code: 0, output: "fine"}
	fail = execReply{code: 1, output: "broken"}
)

func TestLivenessFailureThresholdAndGracePeriod(t *testing.T) {
	h := newHarness(t)
	probeGrace := int64(5)
	pod := testPod(corev1.Container{LivenessProbe: execProbeSpec("live", func(p *corev1.Probe) {
		p.TerminationGracePeriodSeconds = &probeGrace
	})})
	h.add(t, pod, 1)
	if r, _ := h.m.Result(pod.UID, "app", Liveness); r.Status != Success {
		t.Errorf("initial liveness %s, want Success", r.Status)
	}
	h.exec.next(t, "live", fail) // at once, no initial delay
	h.clock.Step(10 * time.Second)
	h.exec.next(t, "live", ok) // resets the run of failures
	for range 2 {
		h.clock.Step(10 * time.Second)
		h.exec.next(t, "live", fail)
	}
	h.clock.Step(10 * time.Second)
	h.exec.next(t, "live", fail)
	h.expect(t, report{"app", Liveness, Result{Status: Failure, Message: "broken", GracePeriod: 5 * time.Second}})
	h.clock.Step(10 * time.Second)
	h.exec.none(t) // on hold until the next attempt
	h.add(t, pod, 1)
	h.exec.next(t, "live", ok)
	if r, _ := h.m.Result(pod.UID, "app", Liveness); r.Status != Success {
		t.Errorf("liveness of the new attempt %s, want Success", r.Status)
	}
}

func TestReadinessThresholdsFlipBothWays(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{ReadinessProbe: execProbeSpec("ready", func(p *corev1.Probe) {
		p.SuccessThreshold, p.FailureThreshold = 2, 1
	})})
	h.add(t, pod, 1)
	if h.m.Ready(pod.UID, "app") {
		t.Error("ready before any probe")
	}
	steps := []struct {
		reply execReply
		want  []report
		ready bool
	}{
		{ok, nil, false},
		{ok, []report{{"app", Readiness, Result{Status: Success, Message: "fine"}}}, true},
		{ok, nil, true},
		{fail, []report{{"app", Readiness, Result{Status: Failure, Message: "broken"}}}, false},
		{ok, nil, false},
		{ok, []report{{"app", Readiness, Result{Status: Success, Message: "fine"}}}, true},
	}
	for i, s := range steps {
		if i > 0 {
			h.clock.Step(10 * time.Second)
		}
		h.exec.next(t, "ready", s.reply)
		if s.want != nil {
			h.expect(t, s.want...)
		} else {
			time.Sleep(20 * time.Millisecond)
			h.expect(t)
		}
		if got := h.m.Ready(pod.UID, "app"); got != s.ready {
			t.Errorf("step %d: Ready = %v, want %v", i, got, s.ready)
		}
	}
}

func TestInitialDelay(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{ReadinessProbe: execProbeSpec("ready", func(p *corev1.Probe) {
		p.InitialDelaySeconds = 15
	})})
	h.add(t, pod, 1)
	h.exec.none(t) // t=0
	h.clock.Step(10 * time.Second)
	h.exec.none(t) // t=10 < 15
	h.clock.Step(10 * time.Second)
	h.exec.next(t, "ready", ok) // t=20
	h.expect(t, report{"app", Readiness, Result{Status: Success, Message: "fine"}})
}

func TestStartupGatesLivenessAndReadiness(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{
		StartupProbe: execProbeSpec("startup", func(p *corev1.Probe) {
			p.FailureThreshold, p.PeriodSeconds = 10, 1
		}),
		LivenessProbe:  execProbeSpec("live", nil),
		ReadinessProbe: execProbeSpec("ready", nil),
	})
	h.add(t, pod, 3)
	h.exec.next(t, "startup", fail)
	h.exec.none(t)
	if h.m.Started(pod.UID, "app") || h.m.Ready(pod.UID, "app") {
		t.Error("started or ready before the startup probe succeeded")
	}
	h.clock.Step(time.Second)
	h.exec.next(t, "startup", ok)
	h.expect(t, report{"app", Startup, Result{Status: Success, Message: "fine"}})
	if !h.m.Started(pod.UID, "app") || h.m.Ready(pod.UID, "app") {
		t.Error("want started, not ready yet")
	}
	h.exec.none(t)
	h.clock.Step(9 * time.Second) // the first tick of liveness and readiness
	seen := map[string]bool{}
	for range 2 { // liveness and readiness, in any order; startup is done
		select {
		case c := <-h.exec.calls:
			seen[c.cmd[0]] = true
			c.reply <- ok
		case <-time.After(5 * time.Second):
			t.Fatalf("probes after startup: %v", seen)
		}
	}
	if !seen["live"] || !seen["ready"] {
		t.Errorf("probes after startup: %v, want live and ready", seen)
	}
	h.expect(t, report{"app", Readiness, Result{Status: Success, Message: "fine"}})
	h.exec.none(t)
}

func TestStartupFailureKills(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{StartupProbe: execProbeSpec("startup", func(p *corev1.Probe) { p.FailureThreshold = 2 })})
	h.add(t, pod, 1)
	h.exec.next(t, "startup", fail)
	h.clock.Step(10 * time.Second)
	h.exec.next(t, "startup", fail)
	h.expect(t, report{"app", Startup, Result{Status: Failure, Message: "broken", GracePeriod: 30 * time.Second}})
	h.clock.Step(10 * time.Second)
	h.exec.none(t)
}

func TestExecTimeoutFailsAndErrorsKeepTheResult(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{ReadinessProbe: execProbeSpec("ready", func(p *corev1.Probe) { p.FailureThreshold = 1 })})
	h.add(t, pod, 1)
	h.exec.next(t, "ready", ok)
	h.expect(t, report{"app", Readiness, Result{Status: Success, Message: "fine"}})
	h.clock.Step(10 * time.Second)
	h.exec.next(t, "ready", execReply{code: -1, err: errNotRunningForTest})
	time.Sleep(20 * time.Millisecond)
	h.expect(t) // an error throws the attempt away
	h.clock.Step(10 * time.Second)
	// Unanswered: the fake returns when the 1 s timeout (real time) ends.
	select {
	case <-h.exec.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no exec")
	}
	h.expect(t, report{"app", Readiness, Result{Status: Failure, Message: `command ["ready"] timed out`}})
}

func TestRemoveAndTerminating(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{
		LivenessProbe:  execProbeSpec("live", func(p *corev1.Probe) { p.FailureThreshold = 1 }),
		ReadinessProbe: execProbeSpec("ready", nil),
	})
	h.add(t, pod, 2)
	for range 2 {
		c := <-h.exec.calls
		c.reply <- ok
	}
	h.expect(t, report{"app", Readiness, Result{Status: Success, Message: "fine"}})
	h.m.Terminating(pod.UID)
	h.clock.Step(10 * time.Second)
	h.exec.next(t, "ready", fail) // readiness goes on, liveness stopped
	h.exec.none(t)
	h.m.Remove(pod.UID, "app")
	h.clock.Step(10 * time.Second)
	h.exec.none(t)
	h.expect(t)
	if _, ok := h.m.Result(pod.UID, "app", Readiness); ok || h.m.Ready(pod.UID, "app") {
		t.Error("removed container still has results")
	}
}

func TestNoProbesAndUnknownContainers(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{})
	if err := h.m.Add(pod, "app", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if !h.m.Started(pod.UID, "app") || !h.m.Ready(pod.UID, "app") {
		t.Error("a container without probes is started and ready")
	}
	if err := h.m.Add(pod, "other", h.clock.Now()); err == nil {
		t.Error("Add of a container the pod does not have: no error")
	}
	if h.m.Ready(pod.UID, "other") {
		t.Error("unknown container is ready")
	}
}
