package podworker

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// runState is what the runtime says of one container.
type runState int

const (
	absent runState = iota
	running
	exited
)

// observed is one container as the runtime last reported it.
type observed struct {
	State      runState
	ExitCode   int
	Attempt    int
	StartedAt  time.Time
	FinishedAt time.Time
}

// start asks for a container to be (re)started.
type start struct {
	Container *corev1.Container
	Init      bool
	// Attempt is the restart count the new container will have.
	Attempt int
}

// plan is what one sync decided.
type plan struct {
	Start []start
	// BackOff names the containers waiting out CrashLoopBackOff; the worker
	// syncs again when the first wait ends.
	BackOff map[string]time.Duration
	Phase   corev1.PodPhase
}

// backOff tells whether a container that finished at t must still wait, and
// for how long; when it need not, it records the restart.
type backOff func(name string, finishedAt time.Time) (wait time.Duration)

// decide computes what to start from the spec and what runs, as upstream's
// computePodActions does: init containers one at a time in order (sidecars,
// init containers with restartPolicy Always, are started and left running),
// then every app container; exited ones restart by the pod's restartPolicy
// unless they are backing off.
func decide(pod *corev1.Pod, obs map[string]observed, wait backOff) plan {
	p := plan{BackOff: map[string]time.Duration{}, Phase: corev1.PodPending}
	policy := pod.Spec.RestartPolicy
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		o := obs[c.Name]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case o.State == absent:
			p.Start = append(p.Start, start{Container: c, Init: true})
			if !sidecar {
				return p
			}
		case o.State == running:
			if !sidecar {
				return p
			}
		case sidecar || (o.ExitCode != 0 && policy != corev1.RestartPolicyNever):
			p.restart(c, true, o, wait)
			if !sidecar {
				return p
			}
		case o.ExitCode != 0:
			p.Phase = corev1.PodFailed
			return p
		}
	}
	live, failed, done, fresh := 0, 0, 0, 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		o := obs[c.Name]
		switch {
		case o.State == absent:
			p.Start = append(p.Start, start{Container: c})
			live++
			fresh++
		case o.State == running:
			live++
		case policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && o.ExitCode != 0):
			p.restart(c, false, o, wait)
			live++
		case o.ExitCode != 0:
			failed++
		default:
			done++
		}
	}
	switch {
	case live > 0:
		p.Phase = corev1.PodRunning
		if fresh == len(pod.Spec.Containers) {
			p.Phase = corev1.PodPending
		}
	case failed > 0:
		p.Phase = corev1.PodFailed
	case done > 0:
		p.Phase = corev1.PodSucceeded
	}
	return p
}

func (p *plan) restart(c *corev1.Container, init bool, o observed, wait backOff) {
	if d := wait(c.Name, o.FinishedAt); d > 0 {
		p.BackOff[c.Name] = d
		return
	}
	p.Start = append(p.Start, start{Container: c, Init: init, Attempt: o.Attempt + 1})
}
