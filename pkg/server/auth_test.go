package server

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func TestRequestAttributes(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		path     string
		wantVerb string
		wantSubs []string
	}{
		{"container logs", "GET", "/containerLogs/default/web/app", "get", []string{"proxy"}},
		{"node logs", "GET", "/logs/messages", "get", []string{"log"}},
		{"logs dir", "GET", "/logs", "get", []string{"log"}},
		{"logs prefix only", "GET", "/logsx", "get", []string{"proxy"}},
		{"stats", "GET", "/stats/summary", "get", []string{"stats"}},
		{"metrics", "GET", "/metrics", "get", []string{"metrics"}},
		{"metrics cadvisor", "GET", "/metrics/cadvisor", "get", []string{"metrics"}},
		{"checkpoint", "POST", "/checkpoint/default/web/app", "create", []string{"checkpoint"}},
		{"pods", "GET", "/pods", "get", []string{"pods", "proxy"}},
		{"running pods", "GET", "/runningpods/", "get", []string{"pods", "proxy"}},
		{"healthz", "GET", "/healthz", "get", []string{"healthz", "proxy"}},
		{"healthz ping", "GET", "/healthz/ping", "get", []string{"healthz", "proxy"}},
		{"configz", "GET", "/configz", "get", []string{"configz", "proxy"}},
		{"exec", "POST", "/exec/default/web/app", "create", []string{"proxy"}},
		{"put", "PUT", "/x", "update", []string{"proxy"}},
		{"patch", "PATCH", "/x", "patch", []string{"proxy"}},
		{"delete", "DELETE", "/x", "delete", []string{"proxy"}},
		{"head has no verb", "HEAD", "/containerLogs/a/b/c", "", []string{"proxy"}},
	}
	u := &user.DefaultInfo{Name: "kube-apiserver-kubelet-client"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "https://node:10250"+tc.path+"?follow=true", nil)
			attrs := RequestAttributes("node-1", u, r)
			var subs []string
			for _, a := range attrs {
				want := authorizer.AttributesRecord{
					User: u, Verb: tc.wantVerb, APIVersion: "v1", Resource: "nodes",
					Subresource: a.GetSubresource(), Name: "node-1", ResourceRequest: true, Path: tc.path,
				}
				if !reflect.DeepEqual(a, want) {
					t.Errorf("attributes = %+v, want %+v", a, want)
				}
				subs = append(subs, a.GetSubresource())
			}
			if !reflect.DeepEqual(subs, tc.wantSubs) {
				t.Errorf("subresources = %q, want %q", subs, tc.wantSubs)
			}
		})
	}
}
