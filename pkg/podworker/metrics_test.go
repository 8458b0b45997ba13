package podworker

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/metrics"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// memStatuses keeps the last status of each pod.
type memStatuses map[types.UID]corev1.PodStatus

func (m memStatuses) Set(pod *corev1.Pod, st corev1.PodStatus) error { m[pod.UID] = st; return nil }
func (m memStatuses) Delete(uid types.UID) error                     { delete(m, uid); return nil }

var _ Statuses = memStatuses(nil)

// histogramOf gathers k and returns the count and sum of histogram name.
func histogramOf(t *testing.T, k *metrics.Kubelet, name string) (uint64, float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(k)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			n, sum = n+m.GetHistogram().GetSampleCount(), sum+m.GetHistogram().GetSampleSum()
		}
	}
	return n, sum
}

func TestReportObservesFirstRunning(t *testing.T) {
	cases := []struct {
		name string
		// apiPhase is the phase the apiserver had when the worker was made.
		apiPhase corev1.PodPhase
		reports  []corev1.PodPhase
		want     uint64
	}{
		{"pending, then running twice", corev1.PodPending, []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodRunning}, 1},
		{"never running", corev1.PodPending, []corev1.PodPhase{corev1.PodPending, corev1.PodFailed}, 0},
		{"running before this agent", corev1.PodRunning, []corev1.PodPhase{corev1.PodRunning}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := metrics.New()
			pod := &corev1.Pod{}
			pod.UID, pod.Status.Phase = "u", tc.apiPhase
			wk := newWorker(&Workers{cfg: Config{Metrics: k, Statuses: memStatuses{}}}, pod)
			wk.seen = time.Now().Add(-2 * time.Second)
			for i, phase := range tc.reports {
				wk.report(pod, corev1.PodStatus{Phase: phase, Message: string(rune('a' + i))})
			}
			n, sum := histogramOf(t, k, "kubelet_pod_start_duration_seconds")
			if n != tc.want {
				t.Errorf("observations = %d, want %d", n, tc.want)
			}
			if n == 1 && (sum < 2 || sum > 60) {
				t.Errorf("observed %vs, want about 2s (since the worker first saw the pod)", sum)
			}
		})
	}
}

func TestInitContainerRunsLeftOutOfSLI(t *testing.T) {
	created := time.Now().Add(-10 * time.Second)
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}, {Name: "sidecar", RestartPolicy: &always}},
		Containers:     []corev1.Container{{Name: "app"}},
	}}
	pod.UID, pod.CreationTimestamp = "u", metav1.NewTime(created)
	k := metrics.New()
	events := k.PodEvents()
	events.OnAdd(pod, false)

	wk := newWorker(&Workers{cfg: Config{Metrics: k}}, pod)
	wk.initContainersRan(pod, map[string]sandbox.ContainerStatus{
		"init": {ID: "i1", State: sandbox.StateExited, StartedAt: created.Add(time.Second), FinishedAt: created.Add(4 * time.Second)},
		// A sidecar runs alongside the app; one that exited is not an
		// init step either.
		"sidecar": {ID: "s1", State: sandbox.StateExited, StartedAt: created.Add(4 * time.Second), FinishedAt: created.Add(9 * time.Second)},
		"app":     {ID: "a1", State: sandbox.StateRunning, StartedAt: created.Add(5 * time.Second)},
	})

	started := pod.DeepCopy()
	started.Status.Phase = corev1.PodRunning
	started.Status.StartTime = &metav1.Time{Time: created}
	started.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(created.Add(5 * time.Second))}}}}
	events.OnUpdate(pod, started)

	_, total := histogramOf(t, k, "kubelet_pod_start_total_duration_seconds")
	n, sli := histogramOf(t, k, "kubelet_pod_start_sli_duration_seconds")
	if n != 1 {
		t.Fatalf("SLI observations = %d, want 1", n)
	}
	if d := total - sli; d < 2.999 || d > 3.001 {
		t.Errorf("total %v - SLI %v = %v, want the init container's 3 s (not the sidecar's)", total, sli, d)
	}
}

func TestSpecChanged(t *testing.T) {
	base := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "a"}}}}
	base.UID, base.Labels = "u", map[string]string{"app": "x"}
	with := func(change func(*corev1.Pod)) *corev1.Pod {
		p := base.DeepCopy()
		change(p)
		return p
	}
	now := metav1.Now()
	cases := []struct {
		name string
		cur  *corev1.Pod
		want bool
	}{
		{"same object", base, false},
		{"a copy", base.DeepCopy(), false},
		{"new status", with(func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning; p.ResourceVersion = "9" }), false},
		{"new image", with(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "b" }), true},
		{"new label", with(func(p *corev1.Pod) { p.Labels["tier"] = "web" }), true},
		{"deleted", with(func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true},
	}
	for _, tc := range cases {
		if got := specChanged(base, tc.cur); got != tc.want {
			t.Errorf("%s: specChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}
