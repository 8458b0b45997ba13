package metrics

import (
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
)

// startup follows pods towards the end of upstream's pod startup SLI
// (sig-scalability's pod_startup_latency.md, the kubelet's
// pod_startup_latency_tracker): from the pod's creation timestamp to when
// all its containers are reported as started and observed via watch, less
// the time spent pulling images and running init containers.
//
// It is fed the node's API pods as the agent's watch sees them (a static
// pod is not observed via watch, and is not followed). As upstream's, it
// follows only pods it saw before they had a status startTime (so not
// those an earlier agent process started), and each pod once. Upstream
// leaves out one span from the first pull's start to the last pull's end;
// this leaves out the union of the pulls' own spans and the init
// containers' runs, which is the definition's words.
type startup struct {
	mu   sync.Mutex
	pods map[types.UID]*podStartup
}

type podStartup struct {
	// pulls are the image pulls' spans; inits the init container
	// attempts' runs, by attempt ID.
	pulls    []span
	inits    map[string]span
	recorded bool
}

// span is a stretch of time the SLI leaves out.
type span struct{ from, to time.Time }

// observation is one pod's start: the SLI and the total.
type observation struct{ sli, total time.Duration }

// exclude records a span of pod uid: an init container attempt's run when
// id is set, else a pull. A pod that is not followed is ignored.
func (s *startup) exclude(uid types.UID, id string, sp span) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pods[uid]
	if p == nil || p.recorded {
		return
	}
	if id == "" {
		p.pulls = append(p.pulls, sp)
		return
	}
	if p.inits == nil {
		p.inits = map[string]span{}
	}
	p.inits[id] = sp
}

// observe takes a pod as the watch showed it at when; ok says its start
// ends there. A finished pod is forgotten.
func (s *startup) observe(pod *corev1.Pod, when time.Time) (o observation, ok bool) {
	if podsource.IsMirror(pod) {
		return observation{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		delete(s.pods, pod.UID)
		return observation{}, false
	}
	p := s.pods[pod.UID]
	if p == nil {
		if pod.Status.StartTime.IsZero() {
			s.pods[pod.UID] = &podStartup{}
		}
		return observation{}, false
	}
	if p.recorded || !containersStarted(pod) {
		return observation{}, false
	}
	// The pod stays, recorded, so that it is not followed again.
	p.recorded = true
	excluded := append(slices.Clone(p.pulls), mapValues(p.inits)...)
	p.pulls, p.inits = nil, nil
	total := when.Sub(pod.CreationTimestamp.Time)
	o = observation{sli: total - covered(excluded, pod.CreationTimestamp.Time, when), total: total}
	klog.V(2).InfoS("Observed pod startup duration", "pod", klog.KObj(pod), "podStartSLOduration", o.sli.Seconds(),
		"podStartE2EDuration", o.total, "podCreationTimestamp", pod.CreationTimestamp.Time, "watchObservedRunningTime", when)
	return o, true
}

// forget drops a pod that is gone.
func (s *startup) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pods, uid)
}

// containersStarted says whether the pod's status shows every container of
// its spec started at least once, as the SLI defines a started pod: running
// now, or having run and exited since.
func containersStarted(pod *corev1.Pod) bool {
	statuses := pod.Status.ContainerStatuses
	if len(statuses) < len(pod.Spec.Containers) {
		return false
	}
	for _, c := range pod.Spec.Containers {
		i := slices.IndexFunc(statuses, func(cs corev1.ContainerStatus) bool { return cs.Name == c.Name })
		if i < 0 {
			return false
		}
		cs := statuses[i]
		started := (cs.State.Running != nil && !cs.State.Running.StartedAt.IsZero()) ||
			(cs.State.Terminated != nil && !cs.State.Terminated.StartedAt.IsZero()) ||
			cs.LastTerminationState.Terminated != nil
		if !started {
			return false
		}
	}
	return true
}

// covered is how much of [from, to] the spans cover together, overlaps
// counted once.
func covered(spans []span, from, to time.Time) time.Duration {
	var clipped []span
	for _, s := range spans {
		if s.from.Before(from) {
			s.from = from
		}
		if s.to.After(to) {
			s.to = to
		}
		if s.to.After(s.from) {
			clipped = append(clipped, s)
		}
	}
	slices.SortFunc(clipped, func(a, b span) int { return a.from.Compare(b.from) })
	var total time.Duration
	var cur span
	for i, s := range clipped {
		switch {
		case i == 0:
			cur = s
		case !s.from.After(cur.to):
			if s.to.After(cur.to) {
				cur.to = s.to
			}
		default:
			total += cur.to.Sub(cur.from)
			cur = s
		}
	}
	if len(clipped) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

func mapValues(m map[string]span) []span {
	out := make([]span, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
