package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	x509auth "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// testCA is a CA that signs client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// clientCert returns a client certificate for user cn in group org.
func (ca *testCA) clientCert(t *testing.T, cn, org string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{org}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeLogs is a LogSource of fixed paths keyed "ns/pod/container" and
// "ns/pod/container/previous".
type fakeLogs map[string]string

func (f fakeLogs) LogPath(ns, pod, ctr string, previous bool) (string, error) {
	key := ns + "/" + pod + "/" + ctr
	if previous {
		key += "/previous"
	}
	if p, ok := f[key]; ok {
		return p, nil
	}
	return "", fmt.Errorf("container %q in pod %s/%s: %w", ctr, ns, pod, ErrNotFound)
}

func (f fakeLogs) Running(ns, pod, ctr, path string) bool { return false }

// allowUser allows one user to get nodes/proxy and nodes/metrics of node-1,
// as the apiserver's kubelet client is allowed by its ClusterRole.
func allowUser(name string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser().GetName() == name && a.GetResource() == "nodes" &&
			(a.GetSubresource() == "proxy" || a.GetSubresource() == "metrics") &&
			a.GetName() == "node-1" && a.GetVerb() == "get" {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
}

// startServer runs a Server with a generated serving certificate, x509
// authentication against ca and an authorizer allowing "apiserver", and
// returns its URL, its healthz URL and the serving CA pool.
func startServer(t *testing.T, ca *testCA, logs LogSource, healthy func() error) (string, string, *x509.CertPool) {
	t.Helper()
	return startServerWith(t, ca, func(c *Config) {
		c.Logs, c.Healthy = logs, healthy
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "kubelet_lite_test 1\n") //nolint:errcheck // test handler
		})
	})
}

// startServerWith is startServer with a Config that modify changes.
func startServerWith(t *testing.T, ca *testCA, modify func(*Config)) (string, string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "client-ca.crt")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := Config{
		Addr:          "127.0.0.1:0",
		CertDir:       dir,
		NodeIPs:       []net.IP{net.ParseIP("127.0.0.1")},
		ClientCAFile:  caFile,
		NodeName:      "node-1",
		Authenticator: x509auth.New(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, x509auth.CommonNameUserConversion),
		Authorizer:    allowUser("apiserver"),
	}
	modify(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, api, health) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	serving, err := os.ReadFile(filepath.Join(cfg.CertDir, "kubelet.crt"))
	if err != nil {
		t.Fatalf("generated serving certificate: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(serving) {
		t.Fatal("no certificate in kubelet.crt")
	}
	return "https://" + api.Addr().String(), "http://" + health.Addr().String(), roots
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServerTLS(t *testing.T) {
	ca := newTestCA(t, "client-ca")
	other := newTestCA(t, "other-ca")
	current := writeLog(t, "2026-01-02T03:04:01Z stdout F now 1\n2026-01-02T03:04:02Z stdout F now 2\n")
	previous := writeLog(t, "2026-01-02T03:04:00Z stderr F before\n")
	logs := fakeLogs{
		"default/web/app":          current,
		"default/web/app/previous": previous,
		"default/web/gone":         filepath.Join(t.TempDir(), "9.log"),
	}
	url, _, roots := startServer(t, ca, logs, nil)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots, ServerName: "node-1", Certificates: certs,
		}}}
	}
	apiserver := client(ca.clientCert(t, "apiserver", "system:masters"))
	cases := []struct {
		name     string
		client   *http.Client
		path     string
		wantCode int
		wantBody string
	}{
		{"logs", apiserver, "/containerLogs/default/web/app", 200, "now 1\nnow 2\n"},
		{"tail and timestamps", apiserver, "/containerLogs/default/web/app?tailLines=1&timestamps=true", 200, "2026-01-02T03:04:02Z now 2\n"},
		{"limit bytes", apiserver, "/containerLogs/default/web/app?limitBytes=3", 200, "now"},
		{"since time", apiserver, "/containerLogs/default/web/app?sinceTime=2026-01-02T03:04:02Z", 200, "now 2\n"},
		{"previous", apiserver, "/containerLogs/default/web/app?previous=true", 200, "before\n"},
		{"follow of a stopped container ends", apiserver, "/containerLogs/default/web/app?follow=true&tailLines=1", 200, "now 2\n"},
		{"no previous", apiserver, "/containerLogs/default/web/db?previous=true", 404, "container \"db\" in pod default/web: not found\n"},
		{"no log file", apiserver, "/containerLogs/default/web/gone", 404, ""},
		{"bad option", apiserver, "/containerLogs/default/web/app?tailLines=-1", 400, "invalid log options: tailLines: must be at least 0\n"},
		{"exclusive since", apiserver, "/containerLogs/default/web/app?sinceSeconds=1&sinceTime=2026-01-02T03:04:02Z", 400, "invalid log options: at most one of sinceTime or sinceSeconds may be specified\n"},
		{"healthz", apiserver, "/healthz", 200, "ok"},
		{"metrics", apiserver, "/metrics", 200, "kubelet_lite_test 1\n"},
		{"unknown path", apiserver, "/nothing", 404, "404 page not found\n"},
		{"no client certificate", client(), "/containerLogs/default/web/app", 401, "Unauthorized\n"},
		{"certificate of another CA", client(other.clientCert(t, "apiserver", "")), "/containerLogs/default/web/app", 401, "Unauthorized\n"},
		{"forbidden user", client(ca.clientCert(t, "alice", "devs")), "/containerLogs/default/web/app", 403,
			"Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[proxy])\n"},
		{"forbidden on healthz", client(ca.clientCert(t, "alice", "devs")), "/healthz", 403,
			"Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[healthz proxy])\n"},
		{"forbidden on metrics", client(ca.clientCert(t, "alice", "devs")), "/metrics", 403,
			"Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[metrics])\n"},
		{"metrics unauthenticated", client(), "/metrics", 401, "Unauthorized\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.client, url+tc.path)
			if code != tc.wantCode {
				t.Fatalf("status = %d (%q), want %d", code, body, tc.wantCode)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body = %q, want %q", body, tc.wantBody)
			}
		})
	}
}

func TestPlainHealthz(t *testing.T) {
	var failing atomic.Pointer[error]
	_, health, _ := startServer(t, newTestCA(t, "ca"), fakeLogs{}, func() error {
		if e := failing.Load(); e != nil {
			return *e
		}
		return nil
	})
	if code, body := get(t, http.DefaultClient, health+"/healthz"); code != 200 || body != "ok" {
		t.Errorf("healthy: %d %q, want 200 \"ok\"", code, body)
	}
	stuck := fmt.Errorf("pod workers stuck")
	failing.Store(&stuck)
	code, body := get(t, http.DefaultClient, health+"/healthz")
	if code != 500 || !strings.Contains(body, "[-]agent failed") {
		t.Errorf("unhealthy: %d %q, want 500 naming the agent check", code, body)
	}
}

func TestNewRejectsMissingParts(t *testing.T) {
	dir := t.TempDir()
	base := Config{Addr: ":10250", CertDir: dir, NodeName: "n", Logs: fakeLogs{}, ClientCAFile: "", Client: nil}
	cases := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"no node name", func(c *Config) { c.NodeName = "" }, "no node name"},
		{"no logs", func(c *Config) { c.Logs = nil }, "no log source"},
		{"no address", func(c *Config) { c.Addr = "" }, "no address"},
		{"no authentication", func(c *Config) {}, "no client CA file and no client"},
		{"no authorization", func(c *Config) {
			c.Authenticator = x509auth.New(x509.VerifyOptions{}, x509auth.CommonNameUserConversion)
		}, "no client for subject access reviews"},
		{"no certificate", func(c *Config) {
			c.Authenticator = x509auth.New(x509.VerifyOptions{}, x509auth.CommonNameUserConversion)
			c.Authorizer = allowUser("x")
			c.CertDir = ""
		}, "no serving certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.modify(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
