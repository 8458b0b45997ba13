//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestClusterMetrics: the kubelet API's /metrics, read through the
// apiserver's node proxy, parses with the Prometheus text parser and shows
// what the agent did: a pod whose init container's image came from a
// registry and ran 3 s has one pod start SLI observation, and the SLI
// leaves the pull and the init container's run out of the total; the pull,
// the worker's syncs, the container starts, the running pods and the
// client-go requests to the apiserver are counted; a crashing container's
// restarts and an OOM kill move their counters. Per-pod pressure is there
// on a cgroup v2 host and absent on a cgroup v1 one.
func TestClusterMetrics(t *testing.T) {
	t.Parallel()
	a, _, client := stClusterAgent(t)
	lgCleanupPods(t, a, client)
	lgWaitNodeReady(t, client, a.node, 90*time.Second)
	lgWaitDefaultServiceAccount(t, client)
	ctx := context.Background()
	pulled := kmServeBusybox(t) // a registry on loopback, in the tests' network namespace

	const initRun = 3 // seconds
	p := lgPod("km-start", corev1.RestartPolicyAlways, "exec sleep 3600")
	p.Spec.NodeName = a.node
	p.Spec.InitContainers = []corev1.Container{{
		Name: "init", Image: pulled, ImagePullPolicy: corev1.PullAlways,
		Command: []string{"sleep", fmt.Sprint(initRun)},
	}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lgWaitPod(t, client, "km-start", 120*time.Second, "app running", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})

	var m kmMetrics
	eventually(t, 60*time.Second, "the pod start SLI observed", func() (bool, string) {
		m = kmScrape(t, client, a.node)
		n, _ := m.histogram("kubelet_pod_start_sli_duration_seconds", nil)
		return n >= 1, fmt.Sprintf("%d observations", n)
	})

	t.Run("pod start", func(t *testing.T) {
		n, sli := m.histogram("kubelet_pod_start_sli_duration_seconds", nil)
		nt, total := m.histogram("kubelet_pod_start_total_duration_seconds", nil)
		if n != 1 || nt != 1 {
			t.Fatalf("SLI and total observations = %d, %d; want 1, 1 (one pod started)", n, nt)
		}
		// The total counts the pull and the init container's run; the SLI
		// leaves both out.
		t.Logf("pod start: SLI %.3fs, total %.3fs", sli, total)
		if sli <= 0 || total-sli < initRun {
			t.Errorf("SLI %.3fs, total %.3fs: want a positive SLI at least %ds (the init container's run) under the total", sli, total, initRun)
		}
		if n, _ := m.histogram("kubelet_pod_start_duration_seconds", nil); n < 1 {
			t.Errorf("kubelet_pod_start_duration_seconds: %d observations, want at least 1", n)
		}
	})

	t.Run("pulls, syncs, starts", func(t *testing.T) {
		// busybox is about 1 MiB: upstream's size label for it is 0-10MB.
		if n, sum := m.histogram("kubelet_image_pull_duration_seconds", map[string]string{"image_size_in_bytes": "0-10MB"}); n != 1 || sum <= 0 {
			t.Errorf("kubelet_image_pull_duration_seconds{0-10MB}: %d observations, sum %v; want 1 pull of positive duration", n, sum)
		}
		if v := m.value("kubelet_image_pulls_total", map[string]string{"result": "success"}); v != 1 {
			t.Errorf("kubelet_image_pulls_total{success} = %v, want 1", v)
		}
		for _, op := range []string{"create", "sync"} {
			if n, _ := m.histogram("kubelet_pod_worker_duration_seconds", map[string]string{"operation_type": op}); n < 1 {
				t.Errorf("kubelet_pod_worker_duration_seconds{%s}: %d observations, want at least 1", op, n)
			}
		}
		for _, typ := range []string{"init_container", "container"} {
			if v := m.value("kubelet_started_containers_total", map[string]string{"container_type": typ}); v != 1 {
				t.Errorf("kubelet_started_containers_total{%s} = %v, want 1", typ, v)
			}
		}
		if v := m.value("kubelet_running_pods", nil); v < 1 {
			t.Errorf("kubelet_running_pods = %v, want at least 1", v)
		}
		if v := m.value("kubelet_running_containers", map[string]string{"container_state": "running"}); v < 1 {
			t.Errorf("kubelet_running_containers{running} = %v, want at least 1", v)
		}
	})

	t.Run("client-go requests", func(t *testing.T) {
		n, _ := m.histogram("rest_client_request_duration_seconds", map[string]string{"verb": "PATCH"})
		if n < 1 {
			t.Errorf("rest_client_request_duration_seconds{verb=PATCH}: %d observations, want the status patches", n)
		}
		if v := m.value("rest_client_requests_total", map[string]string{"code": "200", "method": "GET"}); v < 1 {
			t.Errorf("rest_client_requests_total{200,GET} = %v, want at least 1", v)
		}
	})

	t.Run("pressure", func(t *testing.T) {
		var fs unix.Statfs_t
		if err := unix.Statfs("/sys/fs/cgroup", &fs); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"namespace": "default", "pod": "km-start"}
		_, present := m.find("container_pressure_cpu_waiting_seconds_total", labels)
		if v2 := fs.Type == unix.CGROUP2_SUPER_MAGIC; present != v2 {
			t.Errorf("container_pressure_cpu_waiting_seconds_total of km-start present = %v on a host with cgroup v2 %v; want them equal", present, v2)
		}
	})

	t.Run("restarts and OOM kills", func(t *testing.T) {
		p := lgPod("km-trouble", corev1.RestartPolicyAlways, "exit 1")
		p.Spec.NodeName = a.node
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
			Name: "hog", Image: busybox, ImagePullPolicy: corev1.PullNever,
			Command:   []string{"sh", "-c", "head -c 128m /dev/zero | tail"},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
		})
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 120*time.Second, "a restart and an OOM kill counted", func() (bool, string) {
			m := kmScrape(t, client, a.node)
			restarts := m.value("kubelet_container_restarts_total", map[string]string{"container_type": "container"})
			ooms := m.value("kubelet_container_oom_kills_total", nil)
			return restarts >= 1 && ooms >= 1, fmt.Sprintf("restarts %v, OOM kills %v", restarts, ooms)
		})
	})
}

// kmMetrics is one scrape of /metrics, by family name.
type kmMetrics map[string]*dto.MetricFamily

// kmScrape reads the node's /metrics through the apiserver's node proxy
// and parses it.
func kmScrape(t *testing.T, client kubernetes.Interface, node string) kmMetrics {
	t.Helper()
	body := stGet(t, client, "/api/v1/nodes/"+node+"/proxy/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%.2000s", err, body)
	}
	return families
}

// find is the first series of family name that has all of labels.
func (m kmMetrics) find(name string, labels map[string]string) (*dto.Metric, bool) {
	for _, s := range m[name].GetMetric() {
		if kmHasLabels(s, labels) {
			return s, true
		}
	}
	return nil, false
}

// kmHasLabels says whether series s has all of labels.
func kmHasLabels(s *dto.Metric, labels map[string]string) bool {
	have := map[string]string{}
	for _, l := range s.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range labels {
		if have[k] != v {
			return false
		}
	}
	return true
}

// value is the counter or gauge value of a series, -1 when it is missing.
func (m kmMetrics) value(name string, labels map[string]string) float64 {
	s, ok := m.find(name, labels)
	if !ok {
		return -1
	}
	if s.Counter != nil {
		return s.GetCounter().GetValue()
	}
	return s.GetGauge().GetValue()
}

// histogram is the count and sum of a histogram series, summed over the
// series that have all of labels.
func (m kmMetrics) histogram(name string, labels map[string]string) (uint64, float64) {
	var n uint64
	var sum float64
	for _, s := range m[name].GetMetric() {
		if kmHasLabels(s, labels) {
			n += s.GetHistogram().GetSampleCount()
			sum += s.GetHistogram().GetSampleSum()
		}
	}
	return n, sum
}

// kmServeBusybox runs go-containerregistry's in-memory registry on
// 127.0.0.1 with the test busybox image pushed to it, and returns the
// image's reference there.
func kmServeBusybox(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	img, err := tarball.ImageFromPath(filepath.Join(requireEnv(t, "KL_IMAGES"), "busybox.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/km/busybox:v1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}
