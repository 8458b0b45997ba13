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
// As upstream's, it follows only pods it saw before they had a status
// startTime (so not those an earlier agent process started), only API pods
// (a static pod is not observed via watch), and each pod once. Upstream
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

// observe takes the pods the agent has now and returns the starts they end.
// Pods no longer there, or finished, are forgotten.
func (s *startup) observe(pods []*corev1.Pod, when time.Time) []observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []observation
	seen := make(map[types.UID]bool, len(pods))
	for _, pod := range pods {
		if podsource.IsStatic(pod) || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		seen[pod.UID] = true
		p := s.pods[pod.UID]
		if p == nil {
			if pod.Status.StartTime.IsZero() {
				s.pods[pod.UID] = &podStartup{}
			}
			continue
		}
		if p.recorded || !containersStarted(pod) {
			continue
		}
		p.recorded = true
		excluded := append(slices.Clone(p.pulls), mapValues(p.inits)...)
		total := when.Sub(pod.CreationTimestamp.Time)
		o := observation{sli: total - covered(excluded, pod.CreationTimestamp.Time, when), total: total}
		klog.V(2).InfoS("Observed pod startup duration", "pod", klog.KObj(pod), "podStartSLOduration", o.sli,
			"podStartE2EDuration", o.total, "podCreationTimestamp", pod.CreationTimestamp.Time, "watchObservedRunningTime", when)
		out = append(out, o)
		// The pod stays, recorded, so that it is not followed again.
		p.pulls, p.inits = nil, nil
	}
	for uid := range s.pods {
		if !seen[uid] {
			delete(s.pods, uid)
		}
	}
	return out
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
