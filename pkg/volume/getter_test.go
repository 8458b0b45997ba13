package volume

import (
	"context"
	"errors"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestAPIGetterCache(t *testing.T) {
	client := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"k": "v1"}})
	gets := 0
	var fail error
	client.PrependReactor("get", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets++
		if fail != nil {
			return true, nil, fail
		}
		return false, nil, nil
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := NewAPIGetter(client).(*apiGetter)
	g.now = func() time.Time { return now }
	ctx := context.Background()
	update := func(v string) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"k": v}}
		if _, err := client.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name     string
		do       func()
		obj      string
		want     string // value of k, or "not found", or "error"
		wantGets int
	}{
		{name: "first get", obj: "cfg", want: "v1", wantGets: 1},
		{name: "cached within the TTL", do: func() { update("v2"); now = now.Add(5 * time.Second) }, obj: "cfg", want: "v1", wantGets: 1},
		{name: "fetched again after the TTL", do: func() { now = now.Add(5 * time.Second) }, obj: "cfg", want: "v2", wantGets: 2},
		{name: "not found", obj: "nope", want: "not found", wantGets: 3},
		{name: "not found is cached", obj: "nope", want: "not found", wantGets: 3},
		{name: "apiserver away: the last known object", do: func() { now = now.Add(time.Minute); fail = errors.New("boom") }, obj: "cfg", want: "v2", wantGets: 4},
		{name: "apiserver away, nothing known: the error", obj: "other", want: "error", wantGets: 5},
		{name: "apiserver away, not found before: the error", do: func() { now = now.Add(time.Minute) }, obj: "nope", want: "error", wantGets: 6},
		{name: "errors are not cached", do: func() { fail = nil; update("v3") }, obj: "cfg", want: "v3", wantGets: 7},
		{name: "apiserver away after the keep period: the error", do: func() { now = now.Add(25 * time.Hour); fail = errors.New("boom") }, obj: "cfg", want: "error", wantGets: 8},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		cm, err := g.ConfigMap(ctx, "ns", s.obj)
		got := ""
		switch {
		case err != nil && isNotFound(err):
			got = "not found"
		case err != nil:
			got = "error"
		default:
			got = cm.Data["k"]
		}
		if got != s.want || gets != s.wantGets {
			t.Errorf("%s: got %q (err %v) after %d GETs, want %q after %d", s.name, got, err, gets, s.want, s.wantGets)
		}
	}
}

func TestAPIGetterToken(t *testing.T) {
	client := fake.NewClientset()
	var got *authenticationv1.TokenRequest
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca := a.(k8stesting.CreateAction)
		if ca.GetSubresource() != "token" {
			return false, nil, nil
		}
		got = ca.GetObject().(*authenticationv1.TokenRequest)
		out := got.DeepCopy()
		out.Status.Token = "jwt"
		return true, out, nil
	})
	g := NewAPIGetter(client)
	tr, err := g.ServiceAccountToken(context.Background(), "ns", "robot", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"a"}}})
	if err != nil || tr.Status.Token != "jwt" || got == nil || got.Spec.Audiences[0] != "a" {
		t.Errorf("token = %+v, %v; request %+v", tr, err, got)
	}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
