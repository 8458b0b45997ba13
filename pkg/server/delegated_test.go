package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// reviewingClient is a real clientset whose server answers TokenReviews
// (token "good-token" is the user "apiserver") and SubjectAccessReviews
// (only "apiserver" may get nodes/proxy of node-1) as an apiserver would.
// The delegated parts post through the clientset's REST client, so
// client-go's fake clientset cannot stand in.
func reviewingClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apis/authentication.k8s.io/v1/tokenreviews", func(w http.ResponseWriter, r *http.Request) {
		var tr authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if tr.Spec.Token == "good-token" {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "apiserver"}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&tr) //nolint:errcheck // test server
	})
	mux.HandleFunc("POST /apis/authorization.k8s.io/v1/subjectaccessreviews", func(w http.ResponseWriter, r *http.Request) {
		var sar authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&sar); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "apiserver" && ra != nil && ra.Resource == "nodes" &&
			ra.Subresource == "proxy" && ra.Name == "node-1" && ra.Verb == "get"
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&sar) //nolint:errcheck // test server
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bearer adds a bearer token to each request.
type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

// TestDelegatedAuth runs New's own authenticator (client CA file and
// TokenReview) and authorizer (SubjectAccessReview) against a client
// that answers reviews.
func TestDelegatedAuth(t *testing.T) {
	ca := newTestCA(t, "client-ca")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "client-ca.crt")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := writeLog(t, "2026-01-02T03:04:01Z stdout F hello\n")
	s, err := New(Config{
		Addr: "127.0.0.1:0", CertDir: dir, ClientCAFile: caFile, Client: reviewingClient(t),
		NodeName: "node-1", Logs: fakeLogs{"default/web/app": logPath},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, nil) }()
	defer func() {
		cancel()
		<-done
	}()
	transport := func(certs ...tls.Certificate) *http.Transport {
		return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: certs}}
	}
	cases := []struct {
		name     string
		rt       http.RoundTripper
		wantCode int
	}{
		{"client certificate allowed", transport(ca.clientCert(t, "apiserver", "")), 200},
		{"client certificate forbidden", transport(ca.clientCert(t, "alice", "")), 403},
		{"token allowed", bearer{"good-token", transport()}, 200},
		{"bad token", bearer{"bad-token", transport()}, 401},
		{"anonymous", transport(), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, &http.Client{Transport: tc.rt}, "https://"+ln.Addr().String()+"/containerLogs/default/web/app")
			if code != tc.wantCode {
				t.Fatalf("status = %d (%q), want %d", code, body, tc.wantCode)
			}
			if code == 200 && body != "hello\n" {
				t.Errorf("body = %q, want %q", body, "hello\n")
			}
		})
	}
}
