//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

// bsSigningDuration is how long the controller-manager's certificates live
// in TestClusterBootstrap: client-go's manager renews at 70-90 % of a
// certificate's life (which the signer backdates by 5 minutes), so each
// one is renewed within about two minutes of its issue.
const bsSigningDuration = 3 * time.Minute

// TestClusterBootstrap: an agent given only a bootstrap token (manifests/
// applied to a real control plane) gets its client certificate through an
// auto-approved CSR, writes its kubeconfig and key, joins as a Ready node,
// renews the short-lived client certificate before it expires and keeps
// renewing its Lease with the new one, and serves the kubelet API with a
// serving certificate issued through a CSR (--rotate-server-certificates).
func TestClusterBootstrap(t *testing.T) {
	t.Parallel()
	ip := stNodeAddress(t)
	c := cluster.Start(t, cluster.Options{
		APIServerArgs:         []string{"--enable-bootstrap-token-auth"},
		ControllerManagerArgs: []string{"--cluster-signing-duration=" + bsSigningDuration.String()},
	})
	client := cluster.Client(t, c.AdminKubeconfig)
	ctx := context.Background()

	manifests := bsManifests(t)
	bsKubectl(t, c, "apply", "-f", filepath.Join(manifests, "rbac.yaml"))
	id, secret := bsRandom(t, 6), bsRandom(t, 16)
	tmpl, err := os.ReadFile(filepath.Join(manifests, "bootstrap-token-secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tokenSecret := strings.NewReplacer("TOKEN_ID", id, "TOKEN_SECRET", secret).Replace(string(tmpl))
	secretFile := filepath.Join(t.TempDir(), "token.yaml")
	if err := os.WriteFile(secretFile, []byte(tokenSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	bsKubectl(t, c, "apply", "-f", secretFile)

	a := newAgent(t)
	boot := filepath.Join(a.dir, "bootstrap.kubeconfig")
	bsWriteBootstrapKubeconfig(t, boot, c, id+"."+secret)
	kubeconfig, certDir := filepath.Join(a.dir, "etc", "kubelet.kubeconfig"), filepath.Join(a.dir, "pki")
	a.extraArgs = []string{
		"--bootstrap-kubeconfig", boot, "--kubeconfig", kubeconfig, "--cert-dir", certDir,
		"--rotate-certificates", "--rotate-server-certificates",
		"--node-ip", ip.String(), "--address", ip.String(), "--port", fmt.Sprint(freePort(t)),
		"--healthz-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--client-ca-file", c.CAFile,
	}
	start := time.Now()
	a.start()
	// The controller-manager does not approve serving certificates: the
	// test does, as a cluster's approver would, for this node only.
	approveCtx, stopApproving := context.WithCancel(ctx)
	approverDone := make(chan struct{})
	go func() { bsApproveServing(approveCtx, t, client, a.node); close(approverDone) }()
	defer func() { stopApproving(); <-approverDone }()

	lgWaitNodeReady(t, client, a.node, 3*time.Minute)
	t.Logf("node Ready %s after the agent started with only a bootstrap token", time.Since(start).Round(time.Millisecond))

	// The bootstrap CSR: made with the token, approved by the
	// controller-manager, issued for the node.
	csrs, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bootCSR *certificatesv1.CertificateSigningRequest
	for i, r := range csrs.Items {
		if r.Spec.Username == "system:bootstrap:"+id {
			bootCSR = &csrs.Items[i]
		}
	}
	if bootCSR == nil {
		t.Fatalf("no CSR by system:bootstrap:%s among %d", id, len(csrs.Items))
	}
	bsCheckCSR(t, bootCSR, certificatesv1.KubeAPIServerClientKubeletSignerName, a.node)
	if !bsApproved(bootCSR) || len(bootCSR.Status.Certificate) == 0 {
		t.Errorf("bootstrap CSR %s: approved %v, certificate %d bytes; want approved and issued", bootCSR.Name, bsApproved(bootCSR), len(bootCSR.Status.Certificate))
	}

	// The files: the kubeconfig points at the pair in the cert dir, whose
	// key only root reads.
	pair := filepath.Join(certDir, "kubelet-client-current.pem")
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatalf("written kubeconfig: %v", err)
	}
	if ai := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo]; ai == nil || ai.ClientCertificate != pair || ai.ClientKey != pair {
		t.Errorf("kubeconfig auth = %+v, want client certificate and key %s", ai, pair)
	}
	for _, f := range []string{kubeconfig, pair} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	first := bsClientCert(t, pair)
	if first.Subject.CommonName != "system:node:"+a.node || strings.Join(first.Subject.Organization, ",") != "system:nodes" {
		t.Errorf("client certificate subject = %s, want CN system:node:%s, O system:nodes", first.Subject, a.node)
	}
	if life := first.NotAfter.Sub(time.Now()); life > bsSigningDuration {
		t.Errorf("client certificate lives %s more, want at most the signing duration %s", life, bsSigningDuration)
	}

	// The kubelet API serves a certificate the cluster issued: the
	// apiserver, which verifies kubelets against the cluster CA, reaches it.
	eventually(t, 2*time.Minute, "apiserver reaches the kubelet API over the issued serving certificate", func() (bool, string) {
		body, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", a.node, "proxy", "healthz").DoRaw(ctx)
		return err == nil && string(body) == "ok", fmt.Sprintf("%q %v", body, err)
	})

	// Rotation: a new pair before the first expires, requested by the node
	// itself and approved, and the Lease renewed with it after the first
	// certificate has expired.
	var second *x509.Certificate
	eventually(t, time.Until(first.NotAfter)+time.Minute, "client certificate rotated", func() (bool, string) {
		second = bsClientCert(t, pair)
		return second.SerialNumber.Cmp(first.SerialNumber) != 0, fmt.Sprintf("serial %s, notAfter %s", second.SerialNumber, second.NotAfter)
	})
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate's notAfter %s is not after the first's %s", second.NotAfter, first.NotAfter)
	}
	if time.Now().After(first.NotAfter) {
		t.Errorf("the certificate was renewed only after it had expired (%s)", first.NotAfter)
	}
	t.Logf("client certificate rotated %s before the first expired", time.Until(first.NotAfter).Round(time.Second))
	eventually(t, time.Until(first.NotAfter)+2*time.Minute, "Lease renewed after the first certificate expired", func() (bool, string) {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, a.node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if l.Spec.RenewTime == nil {
			return false, "no renewTime"
		}
		return l.Spec.RenewTime.After(first.NotAfter.Add(10 * time.Second)), "renewTime " + l.Spec.RenewTime.String()
	})
	if !a.alive() {
		t.Fatal("the agent exited")
	}
	csrs, err = client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renewals := 0
	for i, r := range csrs.Items {
		if r.Spec.Username == "system:node:"+a.node && r.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName {
			bsCheckCSR(t, &csrs.Items[i], r.Spec.SignerName, a.node)
			if bsApproved(&r) && len(r.Status.Certificate) > 0 {
				renewals++
			}
		}
	}
	if renewals == 0 {
		t.Error("no approved and issued renewal CSR by the node itself")
	}

	// A restarted agent uses the kubeconfig and certificate it has: the
	// token asks for nothing more.
	a.kill()
	a.start()
	restarted := time.Now()
	eventually(t, 2*time.Minute, "Lease renewed by the restarted agent", func() (bool, string) {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, a.node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime != nil && l.Spec.RenewTime.After(restarted), fmt.Sprintf("renewTime %v", l.Spec.RenewTime)
	})
	lgWaitNodeReady(t, client, a.node, time.Minute)
	csrs, err = client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range csrs.Items {
		if r.Spec.Username == "system:bootstrap:"+id && r.Name != bootCSR.Name {
			t.Errorf("the restarted agent bootstrapped again (CSR %s)", r.Name)
		}
	}
}

// bsManifests is the repository's manifests/ directory.
func bsManifests(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rbac.yaml")); err != nil {
		t.Fatalf("manifests: %v", err)
	}
	return dir
}

func bsKubectl(t *testing.T, c *cluster.Cluster, args ...string) {
	t.Helper()
	out, err := exec.Command(c.Kubectl, append([]string{"--kubeconfig", c.AdminKubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// bsRandom is n characters of [a-z0-9], as bootstrap token ids and secrets are.
func bsRandom(t *testing.T, n int) string {
	t.Helper()
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = chars[k.Int64()]
	}
	return string(b)
}

func bsWriteBootstrapKubeconfig(t *testing.T, path string, c *cluster.Cluster, token string) {
	t.Helper()
	kc := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"cluster": {Server: c.APIServerURL, CertificateAuthority: c.CAFile}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"bootstrap": {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{"bootstrap": {Cluster: "cluster", AuthInfo: "bootstrap"}},
		CurrentContext: "bootstrap",
	}
	if err := clientcmd.WriteToFile(kc, path); err != nil {
		t.Fatal(err)
	}
}

// bsCheckCSR checks that a CSR asks for the node's identity from signer.
func bsCheckCSR(t *testing.T, r *certificatesv1.CertificateSigningRequest, signer, node string) {
	t.Helper()
	if r.Spec.SignerName != signer {
		t.Errorf("CSR %s: signer %s, want %s", r.Name, r.Spec.SignerName, signer)
	}
	block, _ := pem.Decode(r.Spec.Request)
	if block == nil {
		t.Fatalf("CSR %s: request is not PEM", r.Name)
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatalf("CSR %s: %v", r.Name, err)
	}
	if req.Subject.CommonName != "system:node:"+node || strings.Join(req.Subject.Organization, ",") != "system:nodes" {
		t.Errorf("CSR %s: subject %s, want CN system:node:%s, O system:nodes", r.Name, req.Subject, node)
	}
}

func bsApproved(r *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range r.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// bsClientCert parses the first certificate of a PEM pair file.
func bsClientCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			t.Fatalf("%s holds no certificate", path)
		}
		if block.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return cert
		}
	}
}

// bsApproveServing approves the node's kubelet-serving CSRs until ctx ends.
func bsApproveServing(ctx context.Context, t *testing.T, client kubernetes.Interface, node string) {
	for ctx.Err() == nil {
		csrs, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			csrs = &certificatesv1.CertificateSigningRequestList{}
		}
		for i, r := range csrs.Items {
			if r.Spec.SignerName != certificatesv1.KubeletServingSignerName || r.Spec.Username != "system:node:"+node || len(r.Status.Conditions) > 0 {
				continue
			}
			r := &csrs.Items[i]
			r.Status.Conditions = append(r.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
				Reason: "E2ETest", Message: "approved by TestClusterBootstrap",
			})
			if _, err := client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, r.Name, r, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
				t.Logf("approve serving CSR %s: %v", r.Name, err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
