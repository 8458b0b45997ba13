package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// apiPod is an API pod created at t0 with one container "app"; started
// gives it a running status.
func apiPod(uid string, started bool) *corev1.Pod {
	p := &corev1.Pod{}
	p.UID, p.Namespace, p.Name = types.UID(uid), "default", "p-"+uid
	p.CreationTimestamp = metav1.NewTime(t0)
	p.Spec.Containers = []corev1.Container{{Name: "app"}}
	if started {
		p.Status.Phase = corev1.PodRunning
		p.Status.StartTime = &metav1.Time{Time: at(0.1)}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at(1))}}}}
	}
	return p
}

// histogram reads a histogram's count and sum.
func histogram(t *testing.T, h prometheus.Metric) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestPodStartSLI(t *testing.T) {
	cases := []struct {
		name string
		// feed drives the metrics; the pod is first seen pending at t0.
		feed      func(k *Kubelet, uid types.UID)
		observeAt float64
		wantSLI   float64
		wantTotal float64
	}{
		{
			name:      "no pull, no init container",
			feed:      func(*Kubelet, types.UID) {},
			observeAt: 3, wantSLI: 3, wantTotal: 3,
		},
		{
			name: "a pull is left out",
			feed: func(k *Kubelet, uid types.UID) {
				k.ImagePulled(uid, at(0.5), at(2.5), 5<<20, nil)
			},
			observeAt: 3, wantSLI: 1, wantTotal: 3,
		},
		{
			name: "a failed pull is left out too",
			feed: func(k *Kubelet, uid types.UID) {
				k.ImagePulled(uid, at(0.5), at(1), 0, errTest)
			},
			observeAt: 3, wantSLI: 2.5, wantTotal: 3,
		},
		{
			name: "an init container's run is left out, overlapping pulls once",
			feed: func(k *Kubelet, uid types.UID) {
				k.ImagePulled(uid, at(1), at(2), 0, nil)        // init image
				k.InitContainerRan(uid, "init-0", at(2), at(5)) // init runs
				k.ImagePulled(uid, at(4), at(6), 0, nil)        // app image, overlapping the run's end
				k.InitContainerRan(uid, "init-0", at(2), at(5)) // seen again by a later sync
			},
			observeAt: 10, wantSLI: 5, wantTotal: 10,
		},
		{
			name: "spans past the observation are clipped",
			feed: func(k *Kubelet, uid types.UID) {
				k.ImagePulled(uid, at(-5), at(1), 0, nil)
			},
			observeAt: 2, wantSLI: 1, wantTotal: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := New()
			k.observePod(apiPod("a", false), t0)
			tc.feed(k, "a")
			k.observePod(apiPod("a", true), at(tc.observeAt))
			n, sli := histogram(t, k.podStartSLI)
			if n != 1 || !near(sli, tc.wantSLI) {
				t.Errorf("SLI: %d observations, sum %v; want 1, %v", n, sli, tc.wantSLI)
			}
			n, total := histogram(t, k.podStartTotal)
			if n != 1 || !near(total, tc.wantTotal) {
				t.Errorf("total: %d observations, sum %v; want 1, %v", n, total, tc.wantTotal)
			}
			// Seen again: the pod's start is not observed twice.
			k.observePod(apiPod("a", true), at(tc.observeAt+5))
			if n, _ := histogram(t, k.podStartSLI); n != 1 {
				t.Errorf("SLI observations after a second look = %d, want 1", n)
			}
		})
	}
}

func TestPodStartSLINotObserved(t *testing.T) {
	mirror := apiPod("m", false)
	mirror.Annotations = map[string]string{podsource.ConfigMirrorAnnotation: "x"}
	mirrorStarted := apiPod("m", true)
	mirrorStarted.Annotations = mirror.Annotations
	partly := apiPod("p", true)
	partly.Spec.Containers = append(partly.Spec.Containers, corev1.Container{Name: "second"})
	cases := []struct {
		name   string
		first  *corev1.Pod
		second *corev1.Pod
	}{
		{"started by an earlier agent (startTime when first seen)", apiPod("a", true), apiPod("a", true)},
		{"a mirror pod", mirror, mirrorStarted},
		{"one of two containers started", apiPod("p", false), partly},
		{"no status yet", apiPod("n", false), apiPod("n", false)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := New()
			k.observePod(tc.first, t0)
			k.observePod(tc.second, at(3))
			if n, _ := histogram(t, k.podStartSLI); n != 0 {
				t.Errorf("SLI observations = %d, want 0", n)
			}
		})
	}
}

func TestPodStartSLIForgetsGonePods(t *testing.T) {
	k := New()
	events := k.PodEvents()
	events.OnAdd(apiPod("a", false), false)
	events.OnDelete(cache.DeletedFinalStateUnknown{Key: "default/p-a", Obj: apiPod("a", false)})
	// Back with a running status: it is a pod this agent never saw start.
	events.OnUpdate(apiPod("a", false), apiPod("a", true))
	if n, _ := histogram(t, k.podStartSLI); n != 0 {
		t.Errorf("SLI observations = %d, want 0", n)
	}
	if len(k.startup.pods) != 0 {
		t.Errorf("followed pods = %d, want 0", len(k.startup.pods))
	}
}

func TestCovered(t *testing.T) {
	cases := []struct {
		name  string
		spans []span
		want  time.Duration
	}{
		{"none", nil, 0},
		{"disjoint", []span{{at(1), at(2)}, {at(3), at(5)}}, 3 * time.Second},
		{"nested", []span{{at(1), at(6)}, {at(2), at(3)}}, 5 * time.Second},
		{"touching", []span{{at(1), at(2)}, {at(2), at(3)}}, 2 * time.Second},
		{"outside the window", []span{{at(-3), at(-1)}, {at(20), at(30)}}, 0},
		{"backwards span", []span{{at(3), at(1)}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := covered(tc.spans, t0, at(10)); got != tc.want {
				t.Errorf("covered = %v, want %v", got, tc.want)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
