package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/kubelet-lite/kubelet-lite/pkg/stats"
)

// TestStatsAndPods serves /stats/summary, /metrics/resource and /pods to
// users each allowed one node subresource: each path is served to the
// user of its own subresource, and refused to the others.
func TestStatsAndPods(t *testing.T) {
	collector, err := stats.New(stats.Config{NodeName: "node-1", CgroupFS: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pod := stats.Pod{UID: "uid-1", Namespace: "default", Name: "web", Containers: []stats.Container{{Name: "app"}}}
	apiPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"}}
	// The user's name is the one subresource it may get.
	authn := authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		name := r.Header.Get("X-Test-User")
		return &authenticator.Response{User: &user.DefaultInfo{Name: name}}, name != "", nil
	})
	authz := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser().GetName() == a.GetSubresource() && a.GetName() == "node-1" && a.GetVerb() == "get" {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	s, err := New(Config{
		Addr: ":10250", CertDir: t.TempDir(), NodeName: "node-1", Logs: fakeLogs{},
		Stats:         collector,
		StatsPods:     func(context.Context) ([]stats.Pod, error) { return []stats.Pod{pod}, nil },
		Pods:          func() []*corev1.Pod { return []*corev1.Pod{apiPod} },
		Authenticator: authn, Authorizer: authz,
	})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(path, as string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if as != "" {
			r.Header.Set("X-Test-User", as)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct{ path, as string }{
		{"/stats/summary", "stats"},
		{"/metrics/resource", "metrics"},
		{"/pods", "proxy"},
		{"/pods", "pods"},
	} {
		if w := serve(tc.path, tc.as); w.Code != http.StatusOK {
			t.Errorf("GET %s as %s: %d %s", tc.path, tc.as, w.Code, w.Body)
		}
		if w := serve(tc.path, "log"); w.Code != http.StatusForbidden {
			t.Errorf("GET %s as log: %d, want 403", tc.path, w.Code)
		}
		if w := serve(tc.path, ""); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s anonymously: %d, want 401", tc.path, w.Code)
		}
	}

	var summary statsapi.Summary
	if err := json.Unmarshal(serve("/stats/summary", "stats").Body.Bytes(), &summary); err != nil {
		t.Fatalf("summary: %v", err)
	}
	if summary.Node.NodeName != "node-1" || len(summary.Pods) != 1 || summary.Pods[0].PodRef.UID != "uid-1" ||
		len(summary.Pods[0].Containers) != 1 || summary.Pods[0].Containers[0].Name != "app" {
		t.Errorf("summary = %+v, want node-1 with pod uid-1 and container app", summary)
	}

	body := serve("/metrics/resource", "metrics").Body.String()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics/resource: %v\n%s", err, body)
	}
	if _, ok := families["node_cpu_usage_seconds_total"]; !ok {
		t.Errorf("/metrics/resource has no node_cpu_usage_seconds_total:\n%s", body)
	}

	var list corev1.PodList
	if err := json.Unmarshal(serve("/pods", "proxy").Body.Bytes(), &list); err != nil {
		t.Fatalf("pods: %v", err)
	}
	if list.Kind != "PodList" || list.APIVersion != "v1" || len(list.Items) != 1 || list.Items[0].UID != "uid-1" {
		t.Errorf("pods = %+v, want a v1 PodList of pod uid-1", list)
	}
}
