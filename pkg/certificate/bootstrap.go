package certificate

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/transport"
	certutil "k8s.io/client-go/util/cert"
	clientcert "k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/certificate/csr"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"
)

// Store prefixes in the certificate directory, as upstream's kubelet names
// them: <prefix>-current.pem links to the pair in use.
const (
	clientPrefix  = "kubelet-client"
	servingPrefix = "kubelet-server"
)

// pendingKey holds the key of a bootstrap CSR until its certificate is
// issued, so that a restart asks again for the same key.
const pendingKey = "kubelet-client.key.tmp"

// BootstrapConfig says where a node's first client certificate comes from
// and where it goes.
type BootstrapConfig struct {
	// Kubeconfig is written with the issued certificate; when it already
	// holds a certificate that has not expired, nothing is done.
	Kubeconfig string
	// BootstrapKubeconfig authenticates the CSR, normally with a bootstrap
	// token.
	BootstrapKubeconfig string
	// CertDir holds the key pair (kubelet-client-current.pem).
	CertDir string
	// NodeName is the node the certificate is for: CN system:node:<name>.
	NodeName string
}

// Bootstrap makes sure cfg.Kubeconfig holds a valid client certificate:
// unless it does already, it asks the cluster for one with a CSR made with
// the bootstrap credentials (signer kubernetes.io/kube-apiserver-client-kubelet),
// waits until the CSR is approved and signed or ctx ends, stores the pair in
// CertDir and writes the kubeconfig pointing at it.
func Bootstrap(ctx context.Context, cfg BootstrapConfig) error {
	if cfg.Kubeconfig == "" || cfg.BootstrapKubeconfig == "" || cfg.CertDir == "" || cfg.NodeName == "" {
		return errors.New("bootstrap: kubeconfig, bootstrap kubeconfig, certificate directory and node name are all needed")
	}
	valid, err := validKubeconfig(cfg.Kubeconfig)
	if err != nil {
		return err
	}
	if valid {
		klog.V(2).InfoS("Kubeconfig holds a valid client certificate; no bootstrap", "kubeconfig", cfg.Kubeconfig)
		return nil
	}
	boot, err := clientcmd.BuildConfigFromFlags("", cfg.BootstrapKubeconfig)
	if err != nil {
		return fmt.Errorf("bootstrap kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(boot)
	if err != nil {
		return fmt.Errorf("bootstrap client: %w", err)
	}
	if err := os.MkdirAll(cfg.CertDir, 0o700); err != nil {
		return fmt.Errorf("certificate directory: %w", err)
	}
	store, err := clientcert.NewFileStore(clientPrefix, cfg.CertDir, cfg.CertDir, "", "")
	if err != nil {
		return fmt.Errorf("client certificate store: %w", err)
	}
	keyFile := filepath.Join(cfg.CertDir, pendingKey)
	keyPEM, _, err := keyutil.LoadOrGenerateKeyFile(keyFile)
	if err != nil {
		return fmt.Errorf("bootstrap key: %w", err)
	}
	klog.InfoS("Requesting a client certificate with the bootstrap credentials", "node", cfg.NodeName, "server", boot.Host)
	certPEM, err := requestClientCertificate(ctx, client, keyPEM, cfg.NodeName)
	if err != nil {
		return err
	}
	if _, err := store.Update(certPEM, keyPEM); err != nil {
		return fmt.Errorf("store client certificate: %w", err)
	}
	if err := os.Remove(keyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		klog.ErrorS(err, "Removing the bootstrap key failed", "path", keyFile)
	}
	if err := writeKubeconfig(boot, cfg.Kubeconfig, store.CurrentPath()); err != nil {
		return err
	}
	klog.InfoS("Client certificate issued; kubeconfig written", "kubeconfig", cfg.Kubeconfig, "certificate", store.CurrentPath())
	return nil
}

// requestClientCertificate creates the node's client CSR and waits until it
// is issued.
func requestClientCertificate(ctx context.Context, client kubernetes.Interface, keyPEM []byte, nodeName string) ([]byte, error) {
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("bootstrap key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("bootstrap key cannot sign")
	}
	req, err := certutil.MakeCSR(signer, &pkix.Name{CommonName: nodeUser(nodeName), Organization: []string{nodesGroup}}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("make CSR: %w", err)
	}
	name, uid, err := csr.RequestCertificateWithContext(ctx, client, req, "", certificatesv1.KubeAPIServerClientKubeletSignerName,
		nil, clientUsages, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	klog.InfoS("Waiting for the client certificate to be issued", "csr", name)
	cert, err := csr.WaitForCertificate(ctx, client, name, uid)
	if err != nil {
		return nil, fmt.Errorf("wait for CSR %s: %w", name, err)
	}
	return cert, nil
}

// validKubeconfig says whether path exists and holds client certificates
// none of which has expired.
func validKubeconfig(path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		klog.ErrorS(err, "Kubeconfig cannot be read; bootstrapping", "kubeconfig", path)
		return false, nil
	}
	tc, err := cfg.TransportConfig()
	if err != nil {
		return false, nil
	}
	if _, err := transport.TLSConfigFor(tc); err != nil { // loads the files into CertData
		klog.ErrorS(err, "Kubeconfig's TLS files cannot be read; bootstrapping", "kubeconfig", path)
		return false, nil
	}
	certs, err := certutil.ParseCertsPEM(tc.TLS.CertData)
	if err != nil || len(certs) == 0 {
		return false, nil
	}
	for _, c := range certs {
		if time.Now().After(c.NotAfter) {
			klog.InfoS("Kubeconfig's client certificate has expired; bootstrapping", "kubeconfig", path, "notAfter", c.NotAfter)
			return false, nil
		}
	}
	return true, nil
}

// writeKubeconfig writes a kubeconfig for boot's server and CA that
// authenticates with the pair in pemPath (certificate and key in one file).
func writeKubeconfig(boot *rest.Config, path, pemPath string) error {
	cluster := &clientcmdapi.Cluster{Server: boot.Host, InsecureSkipTLSVerify: boot.Insecure, CertificateAuthority: boot.CAFile}
	if boot.CAFile == "" {
		cluster.CertificateAuthorityData = boot.CAData
	}
	kc := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"default-cluster": cluster},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"default-auth": {ClientCertificate: pemPath, ClientKey: pemPath}},
		Contexts:       map[string]*clientcmdapi.Context{"default-context": {Cluster: "default-cluster", AuthInfo: "default-auth"}},
		CurrentContext: "default-context",
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := clientcmd.WriteToFile(kc, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
