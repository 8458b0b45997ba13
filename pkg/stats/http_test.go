package stats

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

func listOf(pods ...Pod) PodSource {
	return func(context.Context) ([]Pod, error) { return pods, nil }
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// sample is one parsed series: its labels, value and timestamp (ms, 0 if none).
type sample struct {
	Labels    string
	Value     float64
	Timestamp int64
}

func parseMetrics(t *testing.T, text string) (map[string][]sample, map[string]*dto.MetricFamily) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics/resource: %v\n%s", err, text)
	}
	out := map[string][]sample{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var l []string
			for _, lp := range m.Label {
				l = append(l, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(l)
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			}
			out[name] = append(out[name], sample{strings.Join(l, ","), v, m.GetTimestampMs()})
		}
	}
	return out, fams
}

func TestResourceMetrics(t *testing.T) {
	h := newFakeHost(t)
	h.writeV2Node(t)
	h.writePod(t, "2000000", "1500000")
	c := h.collector(t)
	rec := get(t, c.ResourceMetricsHandler(listOf(testPod)), "/metrics/resource")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got, fams := parseMetrics(t, rec.Body.String())

	ms := t0.UnixMilli()
	ctr, pod := "container=app,namespace=default,pod=web", "namespace=default,pod=web"
	want := map[string][]sample{
		"node_cpu_usage_seconds_total":       {{"", 5000, ms}},
		"node_memory_working_set_bytes":      {{"", 1342177280, ms}},
		"node_swap_usage_bytes":              {{"", 268435456, ms}},
		"container_cpu_usage_seconds_total":  {{ctr, 1.5, ms}},
		"container_memory_working_set_bytes": {{ctr, 62914560, ms}},
		"container_swap_usage_bytes":         {{ctr, 0, ms}},
		"container_swap_limit_bytes":         {{ctr, 1048576, ms}},
		// Start times carry no timestamp, as upstream's.
		"container_start_time_seconds": {{ctr, float64(t0.Add(-30 * time.Minute).Unix()), 0}},
		"pod_cpu_usage_seconds_total":  {{pod, 2, ms}},
		"pod_memory_working_set_bytes": {{pod, 83886080, ms}},
		"pod_swap_usage_bytes":         {{pod, 4096, ms}},
		"resource_scrape_error":        {{"", 0, 0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/metrics/resource (-want +got):\n%s", diff)
	}
	if strings.Contains(rec.Body.String(), "\nscrape_error") {
		t.Errorf("scrape_error, hidden by upstream since 1.30, is served:\n%s", rec.Body)
	}
	for name, help := range map[string]string{
		"node_cpu_usage_seconds_total":       "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
		"container_memory_working_set_bytes": "[STABLE] Current working set of the container in bytes",
		"resource_scrape_error":              "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
	} {
		if f := fams[name]; f == nil || f.GetHelp() != help {
			t.Errorf("%s help = %q, want %q", name, fams[name].GetHelp(), help)
		}
	}
	if typ := fams["pod_cpu_usage_seconds_total"].GetType(); typ != dto.MetricType_COUNTER {
		t.Errorf("pod_cpu_usage_seconds_total is a %v, want a counter", typ)
	}
}

func TestResourceMetricsScrapeError(t *testing.T) {
	h := newFakeHost(t)
	h.writeV2Node(t)
	failing := func(context.Context) ([]Pod, error) { return nil, errors.New("runtime down") }
	rec := get(t, h.collector(t).ResourceMetricsHandler(failing), "/metrics/resource")
	got, _ := parseMetrics(t, rec.Body.String())
	want := map[string][]sample{"resource_scrape_error": {{"", 1, 0}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/metrics/resource when the pods cannot be listed (-want +got):\n%s", diff)
	}
}

func TestSummaryHandler(t *testing.T) {
	h := newFakeHost(t)
	h.writeV2Node(t)
	h.writePod(t, "2000000", "1500000")
	handler := h.collector(t).SummaryHandler(listOf(testPod))

	for _, tc := range []struct {
		target      string
		wantNetwork bool
	}{
		{"/stats/summary", true},
		{"/stats/summary?only_cpu_and_memory=true", false},
	} {
		rec := get(t, handler, tc.target)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d, content type %q: %s", tc.target, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var s statsapi.Summary
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		if s.Node.NodeName != "node-1" || len(s.Pods) != 1 || *s.Pods[0].Memory.WorkingSetBytes != 83886080 {
			t.Errorf("%s: summary %+v", tc.target, s)
		}
		if got := s.Pods[0].Network != nil && s.Node.Rlimit != nil; got != tc.wantNetwork {
			t.Errorf("%s: pod network and node rlimit present = %v, want %v", tc.target, got, tc.wantNetwork)
		}
	}

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/stats/summary", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
	failing := func(context.Context) ([]Pod, error) { return nil, errors.New("runtime down") }
	if rec := get(t, h.collector(t).SummaryHandler(failing), "/stats/summary"); rec.Code != http.StatusInternalServerError {
		t.Errorf("failing pod list: status %d, want 500", rec.Code)
	}
}
