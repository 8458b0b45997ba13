package prober

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// worker runs one probe of one container attempt.
type worker struct {
	m      *Manager
	key    key
	e      *entry
	kind   Kind
	probe  *corev1.Probe
	timing timing

	last   Status // the status of the last attempts in a row
	streak int    // how many attempts in a row had it
}

// run probes at once, then once per period, until ctx ends or the worker
// is done (a startup probe that succeeded, a liveness or startup failure
// reported: the next attempt gets new workers).
func (w *worker) run(ctx context.Context) {
	ticker := w.m.clock.NewTicker(w.timing.period)
	defer ticker.Stop()
	for w.doProbe(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// doProbe runs one attempt if it is time, and reports whether to go on.
func (w *worker) doProbe(ctx context.Context) bool {
	started := w.m.started(w)
	if w.kind == Startup && started {
		return false
	}
	if w.kind != Startup && !started {
		return true
	}
	if w.m.clock.Since(w.e.startedAt) < w.timing.initialDelay {
		return true
	}
	o, err := w.attempt(ctx)
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		klog.V(1).ErrorS(err, "Probe errored", "pod", klog.KObj(w.e.pod), "container", w.key.name, "probe", w.kind)
		w.event("Unhealthy", fmt.Sprintf("%s probe errored: %v", w.kind, err))
		return true
	}
	switch {
	case o.status == Failure:
		w.event("Unhealthy", fmt.Sprintf("%s probe failed: %s", w.kind, o.msg))
	case o.warning:
		w.event("ProbeWarning", fmt.Sprintf("%s probe warning: %s", w.kind, o.msg))
	}
	if o.status == w.last {
		w.streak++
	} else {
		w.last, w.streak = o.status, 1
	}
	if (o.status == Failure && w.streak < w.timing.failureThreshold) ||
		(o.status == Success && w.streak < w.timing.successThreshold) {
		return true
	}
	r := Result{Status: o.status, Message: o.msg}
	kills := o.status == Failure && w.kind != Readiness
	if kills {
		r.GracePeriod = gracePeriod(w.e.pod, w.probe)
	}
	w.m.set(w, r)
	return !kills
}

func (w *worker) attempt(ctx context.Context) (outcome, error) {
	pn, err := w.m.cfg.Network(w.key.uid)
	if err != nil {
		return outcome{}, fmt.Errorf("pod network: %w", err)
	}
	if pn.Dialer == nil && (w.probe.HTTPGet != nil || w.probe.TCPSocket != nil) {
		return outcome{}, fmt.Errorf("pod network: no dialer")
	}
	t := target{podUID: w.key.uid, container: w.e.container, execer: w.m.cfg.Execer, net: pn}
	return runProbe(ctx, t, &w.probe.ProbeHandler, w.timing.timeout)
}

func (w *worker) event(reason, msg string) {
	if w.m.cfg.Recorder != nil {
		w.m.cfg.Recorder.Event(w.e.pod, corev1.EventTypeWarning, reason, msg)
	}
}
