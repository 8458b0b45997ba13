package metrics

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

var errTest = errors.New("test")

func TestCountersMove(t *testing.T) {
	k := New()
	k.ContainerStarted(Container, false)
	k.ContainerStarted(Container, true)
	k.ContainerStarted(InitContainer, false)
	k.OOMKilled()
	k.ImagePulled("u", t0, at(2), 50<<20, nil)
	k.ImagePulled("u", t0, at(1), 0, errTest)
	k.PodSynced(SyncCreate, time.Second)
	k.PodSynced(SyncSync, time.Second)
	k.PodSynced(SyncSync, time.Second)
	k.PodRunning(t0, at(4))

	want := `
# HELP kubelet_started_containers_total Cumulative number of containers started
# TYPE kubelet_started_containers_total counter
kubelet_started_containers_total{container_type="container"} 2
kubelet_started_containers_total{container_type="init_container"} 1
# HELP kubelet_container_restarts_total Cumulative number of containers started again after they exited, by their restart policy or a failed probe (kubelet-lite's own; upstream's kubelet has none)
# TYPE kubelet_container_restarts_total counter
kubelet_container_restarts_total{container_type="container"} 1
# HELP kubelet_container_oom_kills_total Cumulative number of container attempts the kernel's OOM killer ended (kubelet-lite's own; upstream's kubelet has none)
# TYPE kubelet_container_oom_kills_total counter
kubelet_container_oom_kills_total 1
# HELP kubelet_image_pulls_total Cumulative number of image pulls from a registry, by result: success or failure (kubelet-lite's own; upstream's kubelet has none)
# TYPE kubelet_image_pulls_total counter
kubelet_image_pulls_total{result="failure"} 1
kubelet_image_pulls_total{result="success"} 1
`
	if err := testutil.CollectAndCompare(k, strings.NewReader(want), "kubelet_started_containers_total",
		"kubelet_container_restarts_total", "kubelet_container_oom_kills_total", "kubelet_image_pulls_total"); err != nil {
		t.Error(err)
	}
	if n, sum := histogram(t, k.imagePull.WithLabelValues("10MB-100MB").(prometheus.Metric)); n != 1 || sum != 2 {
		t.Errorf("image pull duration: %d observations, sum %v; want 1, 2", n, sum)
	}
	if got := testutil.CollectAndCount(k.podWorker); got != 2 {
		t.Errorf("pod worker series = %d, want 2 (create, sync)", got)
	}
	if n, sum := histogram(t, k.podStart); n != 1 || sum != 4 {
		t.Errorf("pod start duration: %d observations, sum %v; want 1, 4", n, sum)
	}
	if problems, err := testutil.CollectAndLint(k); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestNilKubeletIsANoOp(t *testing.T) {
	var k *Kubelet
	k.PodSynced(SyncSync, time.Second)
	k.PodRunning(t0, t0)
	k.ContainerStarted(Container, true)
	k.OOMKilled()
	k.ImagePulled("u", t0, t0, 0, nil)
	k.InitContainerRan("u", "id", t0, t0)
	k.PodEvents().OnAdd(apiPod("a", true), false)
}

func TestImageSizeBucket(t *testing.T) {
	cases := []struct {
		size int64
		want string
	}{
		{0, "N/A"},
		{1, "0-10MB"},
		{10 << 20, "0-10MB"},
		{10<<20 + 1, "10MB-100MB"},
		{3 << 30, "1GB-5GB"},
		{200 << 30, "GT100GB"},
	}
	for _, tc := range cases {
		if got := imageSizeBucket(tc.size); got != tc.want {
			t.Errorf("imageSizeBucket(%d) = %q, want %q", tc.size, got, tc.want)
		}
	}
}

func TestContainerType(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "app"}},
	}}
	if got := ContainerType(pod, "init"); got != InitContainer {
		t.Errorf("ContainerType(init) = %q", got)
	}
	if got := ContainerType(pod, "app"); got != Container {
		t.Errorf("ContainerType(app) = %q", got)
	}
}

func TestRuntimeCollector(t *testing.T) {
	pods := []sandbox.PodState{
		{UID: "a", SandboxPID: 10, Containers: []sandbox.ContainerStatus{{State: sandbox.StateRunning}, {State: sandbox.StateExited}}},
		{UID: "b", SandboxPID: 11, Containers: []sandbox.ContainerStatus{{State: sandbox.StateRunning}, {State: sandbox.StateCreated}}},
		{UID: "c", Containers: []sandbox.ContainerStatus{{State: "paused"}}},
	}
	c := NewRuntimeCollector(func() ([]sandbox.PodState, error) { return pods, nil })
	want := `
# HELP kubelet_running_pods Number of pods that have a running pod sandbox
# TYPE kubelet_running_pods gauge
kubelet_running_pods 2
# HELP kubelet_running_containers Number of containers currently running
# TYPE kubelet_running_containers gauge
kubelet_running_containers{container_state="created"} 1
kubelet_running_containers{container_state="exited"} 1
kubelet_running_containers{container_state="running"} 2
kubelet_running_containers{container_state="unknown"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	failing := NewRuntimeCollector(func() ([]sandbox.PodState, error) { return nil, errTest })
	if _, err := testutil.CollectAndFormat(failing, expfmt.TypeTextPlain); err == nil {
		t.Error("a failed runtime list: scrape error = nil, want the list's error")
	}
}

func TestClientGoAdapters(t *testing.T) {
	c := NewClientGo()
	opts := c.RegisterOpts()
	u := url.URL{Scheme: "https", Host: "127.0.0.1:6443", Path: "/api/v1/pods"}
	opts.RequestLatency.Observe(t.Context(), "GET", u, 30*time.Millisecond)
	opts.RequestLatency.Observe(t.Context(), "GET", u, 60*time.Millisecond)
	opts.RateLimiterLatency.Observe(t.Context(), "GET", u, time.Millisecond)
	opts.RequestResult.Increment(t.Context(), "200", "GET", u.Host)
	opts.RequestRetry.IncrementRetry(t.Context(), "500", "GET", u.Host)
	opts.RequestSize.Observe(t.Context(), "PATCH", u.Host, 300)
	opts.ResponseSize.Observe(t.Context(), "GET", u.Host, 5000)
	want := `
# HELP rest_client_requests_total Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "rest_client_requests_total"); err != nil {
		t.Error(err)
	}
	if n, sum := histogram(t, c.latency.WithLabelValues("GET", "127.0.0.1:6443").(prometheus.Metric)); n != 2 || !near(sum, 0.09) {
		t.Errorf("request latency: %d observations, sum %v; want 2, 0.09", n, sum)
	}
	if got := testutil.CollectAndCount(c); got != 6 {
		t.Errorf("client-go series = %d, want 6", got)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
