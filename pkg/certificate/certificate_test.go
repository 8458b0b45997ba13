package certificate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	clientcert "k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/keyutil"
)

// testCA signs test certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key in PEM for cn, valid until notAfter.
func (ca *testCA) issue(t *testing.T, serial int64, cn string, notAfter time.Time, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM
}

func TestValidKubeconfig(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kubeconfigFor := func(name string, cert, key []byte) string {
		pair := write(name+".pem", append(append([]byte{}, cert...), key...))
		path := filepath.Join(dir, name+".kubeconfig")
		if err := writeKubeconfig(&rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{CAData: ca.pem}}, path, pair); err != nil {
			t.Fatal(err)
		}
		return path
	}
	validCert, validKey := ca.issue(t, 2, "system:node:a", time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth)
	expiredCert, expiredKey := ca.issue(t, 3, "system:node:a", time.Now().Add(-time.Minute), x509.ExtKeyUsageClientAuth)
	for _, tc := range []struct {
		name string
		path string
		want bool
	}{
		{"missing", filepath.Join(dir, "none"), false},
		{"valid", kubeconfigFor("valid", validCert, validKey), true},
		{"expired", kubeconfigFor("expired", expiredCert, expiredKey), false},
		{"not a kubeconfig", write("garbage", []byte("{{{")), false},
		{"certificate file gone", kubeconfigFor("gone", validCert, validKey), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "certificate file gone" {
				os.Remove(filepath.Join(dir, "gone.pem"))
			}
			got, err := validKubeconfig(tc.path)
			if err != nil || got != tc.want {
				t.Errorf("validKubeconfig = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestWriteKubeconfigMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kubelet.kubeconfig")
	if err := writeKubeconfig(&rest.Config{Host: "https://k:6443", TLSClientConfig: rest.TLSClientConfig{CAFile: "/ca.crt"}}, path, "/pki/kubelet-client-current.pem"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600", st.Mode().Perm())
	}
}

// fakeManager hands out whatever certificate the test sets.
type fakeManager struct {
	mu   sync.Mutex
	cert *tls.Certificate
}

var _ clientcert.Manager = (*fakeManager)(nil)

func (f *fakeManager) Start()              {}
func (f *fakeManager) Stop()               {}
func (f *fakeManager) ServerHealthy() bool { return true }
func (f *fakeManager) Current() *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cert
}
func (f *fakeManager) set(c *tls.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cert = c
}

// TestRotatingConfig: requests present the manager's certificate, and after
// it changes, open keep-alive connections are closed so that the server
// sees the new one.
func TestRotatingConfig(t *testing.T) {
	rotationCheck = 50 * time.Millisecond
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srvCert, srvKey := ca.issue(t, 10, "localhost", time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth)
	serving, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	var lastSerial atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		lastSerial.Store(r.TLS.PeerCertificates[0].SerialNumber.Int64())
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()

	pair := func(serial int64) *tls.Certificate {
		c, k := ca.issue(t, serial, "system:node:a", time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth)
		cert, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &cert
	}
	m := &fakeManager{cert: pair(100)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := RotatingConfig(ctx, &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca.pem}}, m)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func() {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %s", resp.Status)
		}
	}
	get()
	if got := lastSerial.Load(); got != 100 {
		t.Fatalf("server saw serial %d, want 100", got)
	}
	m.set(pair(101))
	deadline := time.Now().Add(10 * time.Second)
	for {
		get()
		if lastSerial.Load() == 101 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server still sees serial %d after the rotation", lastSerial.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
