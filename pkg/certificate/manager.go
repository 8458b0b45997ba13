package certificate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcert "k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/connrotation"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"
)

// nodesGroup is the group of every node's certificates.
const nodesGroup = "system:nodes"

func nodeUser(name string) string { return "system:node:" + name }

// The usages of the node's certificates. client-go's manager makes ECDSA
// keys, which sign but do not encipher, so key encipherment is not asked for.
var (
	clientUsages  = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	servingUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
)

// ClientConfig configures the manager of the node's client certificate.
type ClientConfig struct {
	// Kubeconfig is the node's kubeconfig. Its client certificate is the
	// first one the manager has when CertDir holds none yet.
	Kubeconfig string
	// BootstrapKubeconfig, when set, authenticates the CSR should the
	// node have no valid certificate at all.
	BootstrapKubeconfig string
	// CertDir holds the renewed pairs (kubelet-client-current.pem).
	CertDir string
	// NodeName is the node the certificate is for.
	NodeName string
}

// NewClientManager returns a certificate manager, not started, that renews
// the node's client certificate (CN system:node:<name>, O system:nodes,
// signer kubernetes.io/kube-apiserver-client-kubelet) before it expires,
// asking with the current certificate, and the kubeconfig's REST config.
func NewClientManager(cfg ClientConfig) (clientcert.Manager, *rest.Config, error) {
	if cfg.Kubeconfig == "" || cfg.CertDir == "" || cfg.NodeName == "" {
		return nil, nil, errors.New("client certificate manager: kubeconfig, certificate directory and node name are all needed")
	}
	base, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	var boot *rest.Config
	if cfg.BootstrapKubeconfig != "" {
		if boot, err = clientcmd.BuildConfigFromFlags("", cfg.BootstrapKubeconfig); err != nil {
			return nil, nil, fmt.Errorf("bootstrap kubeconfig: %w", err)
		}
	}
	// The kubeconfig's own certificate files are the store's fallback;
	// inline data is the manager's bootstrap pair.
	store, err := clientcert.NewFileStore(clientPrefix, cfg.CertDir, cfg.CertDir, base.CertFile, base.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate store: %w", err)
	}
	m, err := clientcert.NewManager(&clientcert.Config{
		Name: "kubelet-client",
		ClientsetFn: func(current *tls.Certificate) (kubernetes.Interface, error) {
			if current != nil {
				return clientsetWith(base, current)
			}
			if boot != nil {
				return kubernetes.NewForConfig(boot)
			}
			return nil, errors.New("no valid client certificate and no bootstrap kubeconfig")
		},
		Template: &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: nodeUser(cfg.NodeName), Organization: []string{nodesGroup}},
		},
		SignerName:              certificatesv1.KubeAPIServerClientKubeletSignerName,
		Usages:                  clientUsages,
		CertificateStore:        store,
		BootstrapCertificatePEM: base.CertData,
		BootstrapKeyPEM:         base.KeyData,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate manager: %w", err)
	}
	return m, base, nil
}

// clientsetWith is a clientset for base's server that authenticates with
// cert.
func clientsetWith(base *rest.Config, cert *tls.Certificate) (kubernetes.Interface, error) {
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(cert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("current client key: %w", err)
	}
	var certPEM []byte
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	c := rest.AnonymousClientConfig(base)
	c.CertData, c.KeyData = certPEM, keyPEM
	return kubernetes.NewForConfig(c)
}

// ServingConfig configures the manager of the kubelet API's serving
// certificate.
type ServingConfig struct {
	// Client asks for the certificates (the node's own client).
	Client kubernetes.Interface
	// CertDir holds the pairs (kubelet-server-current.pem).
	CertDir string
	// NodeName is the node the certificate is for; Hostnames and IPs are
	// its subject alternative names.
	NodeName  string
	Hostnames []string
	IPs       []net.IP
}

// NewServingManager returns a certificate manager, not started, for the
// kubelet API's serving certificate (signer kubernetes.io/kubelet-serving).
// Its Current is nil until a CSR is approved; the controller-manager does
// not approve these by itself.
func NewServingManager(cfg ServingConfig) (clientcert.Manager, error) {
	if cfg.Client == nil || cfg.CertDir == "" || cfg.NodeName == "" {
		return nil, errors.New("serving certificate manager: client, certificate directory and node name are all needed")
	}
	store, err := clientcert.NewFileStore(servingPrefix, cfg.CertDir, cfg.CertDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("serving certificate store: %w", err)
	}
	m, err := clientcert.NewManager(&clientcert.Config{
		Name:        "kubelet-serving",
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) { return cfg.Client, nil },
		Template: &x509.CertificateRequest{
			Subject:     pkix.Name{CommonName: nodeUser(cfg.NodeName), Organization: []string{nodesGroup}},
			DNSNames:    cfg.Hostnames,
			IPAddresses: cfg.IPs,
		},
		SignerName:       certificatesv1.KubeletServingSignerName,
		Usages:           servingUsages,
		CertificateStore: store,
	})
	if err != nil {
		return nil, fmt.Errorf("serving certificate manager: %w", err)
	}
	return m, nil
}

// GetCertificate serves m's current certificate, for tls.Config; it fails
// the handshake while there is none.
func GetCertificate(m clientcert.Manager) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := m.Current(); c != nil {
			return c, nil
		}
		return nil, errors.New("no serving certificate yet: its CSR is not approved")
	}
}

// rotationCheck is how often RotatingConfig looks for a new certificate; a
// variable for tests.
var rotationCheck = 10 * time.Second

// RotatingConfig returns a copy of base whose connections present m's
// current client certificate. When the manager's certificate changes, every
// open connection is closed so that the next request shakes hands with the
// new one (the apiserver checks the certificate of a connection once). It
// stops watching when ctx ends.
func RotatingConfig(ctx context.Context, base *rest.Config, m clientcert.Manager) (*rest.Config, error) {
	c := rest.CopyConfig(base)
	if c.Transport != nil || c.Dial != nil {
		return nil, errors.New("rotating client certificate: the config has its own transport")
	}
	tlsConfig, err := rest.TLSConfigFor(c)
	if err != nil {
		return nil, fmt.Errorf("rotating client certificate: %w", err)
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	tlsConfig.Certificates = nil
	tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert := m.Current(); cert != nil {
			return cert, nil
		}
		return &tls.Certificate{}, nil // no certificate: the request is anonymous
	}
	dialer := connrotation.NewDialer((&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext)
	last := m.Current()
	go wait.Until(func() {
		cur := m.Current()
		if cur == nil || cur == last {
			return
		}
		last = cur
		var notAfter time.Time
		if cur.Leaf != nil {
			notAfter = cur.Leaf.NotAfter
		}
		klog.InfoS("Client certificate rotated; closing connections to use the new one", "notAfter", notAfter)
		dialer.CloseAll()
	}, rotationCheck, ctx.Done())
	c.Transport = utilnet.SetTransportDefaults(&http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: 25,
		DialContext:         dialer.DialContext,
	})
	// The transport carries the TLS settings now.
	c.TLSClientConfig = rest.TLSClientConfig{}
	return c, nil
}
