package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func verify(t *testing.T, caFile string, cert *x509.Certificate, usage x509.ExtKeyUsage, host string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, caFile))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: host}); err != nil {
		t.Errorf("verify %s for %q: %v", cert.Subject, host, err)
	}
}

func TestEnsureControlPlaneAndNode(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Server: "https://127.0.0.1:6443"}
	cp, err := EnsureControlPlane(cfg)
	if err != nil {
		t.Fatal(err)
	}
	node, err := EnsureNode(cfg, "node-a", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		file  string
		cn    string
		orgs  []string
		usage x509.ExtKeyUsage
		hosts []string
	}{
		{"apiserver", cp.APIServer.CertFile, "kube-apiserver", nil, x509.ExtKeyUsageServerAuth,
			[]string{"127.0.0.1", "localhost", "10.0.2.100", "10.96.0.1", "kubernetes", "kubernetes.default.svc"}},
		{"apiserver kubelet client", cp.APIServerKubeletClient.CertFile, "kube-apiserver-kubelet-client", []string{"system:masters"}, x509.ExtKeyUsageClientAuth, []string{""}},
		{"admin", cp.Admin.CertFile, "kubernetes-admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth, []string{""}},
		{"controller-manager", filepath.Join(dir, "pki/controller-manager.crt"), "system:kube-controller-manager", nil, x509.ExtKeyUsageClientAuth, []string{""}},
		{"scheduler", filepath.Join(dir, "pki/scheduler.crt"), "system:kube-scheduler", nil, x509.ExtKeyUsageClientAuth, []string{""}},
		{"node client", node.Client.CertFile, "system:node:node-a", []string{"system:nodes"}, x509.ExtKeyUsageClientAuth, []string{""}},
		{"kubelet serving", node.Serving.CertFile, "node-a", nil, x509.ExtKeyUsageServerAuth, []string{"node-a", "localhost", "127.0.0.1", "10.0.2.15"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := readCert(t, tt.file)
			if cert.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", cert.Subject.CommonName, tt.cn)
			}
			if !slices.Equal(cert.Subject.Organization, tt.orgs) {
				t.Errorf("O = %q, want %q", cert.Subject.Organization, tt.orgs)
			}
			for _, h := range tt.hosts {
				verify(t, cp.CA.CertFile, cert, tt.usage, h)
			}
		})
	}
	if err := verifyFails(cp.CA.CertFile, readCert(t, node.Serving.CertFile), "node-b"); err == nil {
		t.Errorf("kubelet serving certificate of node-a verified for node-b")
	}
}

func verifyFails(caFile string, cert *x509.Certificate, host string) error {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(data)
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host})
	return err
}

func TestEnsureKeepsExistingFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Server: "https://127.0.0.1:6443"}
	if _, err := EnsureControlPlane(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureNode(cfg, "n1", ""); err != nil {
		t.Fatal(err)
	}
	files := []string{"pki/ca.crt", "pki/ca.key", "pki/apiserver.crt", "pki/sa.key", "pki/sa.pub", "pki/node-n1.crt", "pki/kubelet-n1.key"}
	before := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = data
	}
	cfg.Server = "https://127.0.0.1:7443"
	if _, err := EnsureControlPlane(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureNode(cfg, "n1", ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, before[f]) {
			t.Errorf("%s changed on the second run", f)
		}
	}
	kc, err := clientcmd.LoadFromFile(filepath.Join(dir, "node-n1.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if got := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server; got != "https://127.0.0.1:7443" {
		t.Errorf("node kubeconfig server = %q, want the new %q", got, "https://127.0.0.1:7443")
	}
	if got := kc.Contexts[kc.CurrentContext].AuthInfo; got != "system:node:n1" {
		t.Errorf("node kubeconfig user = %q, want %q", got, "system:node:n1")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		node string
	}{
		{"no dir", Config{Server: "https://127.0.0.1:1"}, "n"},
		{"no server", Config{Dir: "x"}, "n"},
		{"no node name", Config{Dir: "x", Server: "https://127.0.0.1:1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Dir == "x" {
				tt.cfg.Dir = t.TempDir()
			}
			if _, err := EnsureNode(tt.cfg, tt.node, ""); err == nil {
				t.Errorf("EnsureNode(%+v, %q) succeeded", tt.cfg, tt.node)
			}
		})
	}
}
