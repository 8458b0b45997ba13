package certs

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Addresses every apiserver serving certificate holds: loopback, the address
// the node VM reaches the host's loopback at (a qemu guestfwd), and the
// in-cluster names and Service IP of the kubernetes Service (first address of
// 10.96.0.0/12).
var (
	apiserverIPs = []net.IP{
		net.ParseIP("127.0.0.1"), net.ParseIP("10.0.2.100"), net.ParseIP("10.96.0.1"),
	}
	apiserverNames = []string{
		"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local",
	}
	// kubeletIPs are the addresses a kubelet serving certificate holds besides
	// the node's name: loopback (the apiserver reaches a node VM's kubelet API
	// through a loopback forward) and the guest's address in qemu's user network.
	kubeletIPs = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.2.15")}
)

// Config says where the files go and which apiserver the kubeconfigs name.
type Config struct {
	// Dir receives the kubeconfigs; certificates and keys go to Dir/pki.
	Dir string
	// Server is the apiserver URL of the kubeconfigs, https://127.0.0.1:PORT.
	Server string
}

// ControlPlane lists the files of the control plane's PKI.
type ControlPlane struct {
	CA                     Pair
	APIServer              Pair
	APIServerKubeletClient Pair
	// ServiceAccount holds the private key in KeyFile and the public key in
	// CertFile.
	ServiceAccount              Pair
	Admin                       Pair
	AdminKubeconfig             string
	ControllerManagerKubeconfig string
	SchedulerKubeconfig         string
}

// Node lists the files of one node.
type Node struct {
	Name string
	// Client is the node's client certificate, CN system:node:<name>.
	Client Pair
	// Serving is the kubelet API's serving certificate.
	Serving    Pair
	Kubeconfig string
}

func (c Config) validate() error {
	if c.Dir == "" {
		return errors.New("certs: Config.Dir is empty")
	}
	if c.Server == "" {
		return errors.New("certs: Config.Server is empty")
	}
	return nil
}

func (c Config) pkiDir() string { return filepath.Join(c.Dir, "pki") }

// EnsureControlPlane makes what the control plane needs and (re)writes the
// admin, controller-manager and scheduler kubeconfigs.
func EnsureControlPlane(cfg Config) (*ControlPlane, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir := cfg.pkiDir()
	ca, err := LoadOrCreateAuthority(dir, "kubelet-lite-ca")
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{CA: Pair{CertFile: ca.CertFile, KeyFile: ca.KeyFile}}
	leaves := []struct {
		name string
		spec Spec
		into *Pair
	}{
		{"apiserver", Spec{CommonName: "kube-apiserver", DNSNames: apiserverNames, IPs: apiserverIPs, Usage: Server}, &cp.APIServer},
		// system:masters so that the kubelet API's delegated authorization
		// allows the apiserver everything (logs, exec, port-forward).
		{"apiserver-kubelet-client", Spec{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Usage: Client}, &cp.APIServerKubeletClient},
		{"admin", Spec{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Usage: Client}, &cp.Admin},
	}
	for _, l := range leaves {
		if *l.into, err = ca.Ensure(dir, l.name, l.spec); err != nil {
			return nil, err
		}
	}
	if cp.ServiceAccount, err = EnsureServiceAccountKey(dir); err != nil {
		return nil, err
	}
	cp.AdminKubeconfig = filepath.Join(cfg.Dir, "admin.kubeconfig")
	if err := WriteKubeconfig(cp.AdminKubeconfig, cfg.Server, ca, "kubernetes-admin", cp.Admin); err != nil {
		return nil, err
	}
	clients := []struct {
		name, user string
		into       *string
	}{
		{"controller-manager", "system:kube-controller-manager", &cp.ControllerManagerKubeconfig},
		{"scheduler", "system:kube-scheduler", &cp.SchedulerKubeconfig},
	}
	for _, c := range clients {
		pair, err := ca.Ensure(dir, c.name, Spec{CommonName: c.user, Usage: Client})
		if err != nil {
			return nil, err
		}
		*c.into = filepath.Join(cfg.Dir, c.name+".kubeconfig")
		if err := WriteKubeconfig(*c.into, cfg.Server, ca, c.user, pair); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// EnsureNode makes the client certificate (CN system:node:<name>, O
// system:nodes) and the kubelet serving certificate (SANs <name>, localhost,
// ips, 127.0.0.1, 10.0.2.15) of node name, and (re)writes its kubeconfig at
// kubeconfig (default Dir/node-<name>.kubeconfig) naming cfg.Server. The CA
// must exist (EnsureControlPlane).
func EnsureNode(cfg Config, name, kubeconfig string, ips ...net.IP) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("certs: node name is empty")
	}
	dir := cfg.pkiDir()
	if _, err := os.Stat(filepath.Join(dir, "ca.crt")); err != nil {
		return nil, fmt.Errorf("node %s needs the cluster CA: %w", name, err)
	}
	ca, err := LoadOrCreateAuthority(dir, "kubelet-lite-ca")
	if err != nil {
		return nil, err
	}
	n := &Node{Name: name, Kubeconfig: kubeconfig}
	if n.Kubeconfig == "" {
		n.Kubeconfig = filepath.Join(cfg.Dir, "node-"+name+".kubeconfig")
	}
	user := "system:node:" + name
	if n.Client, err = ca.Ensure(dir, "node-"+name, Spec{CommonName: user, Organizations: []string{"system:nodes"}, Usage: Client}); err != nil {
		return nil, err
	}
	serving := Spec{CommonName: name, DNSNames: []string{name, "localhost"}, IPs: append(ips, kubeletIPs...), Usage: Server}
	if ip := net.ParseIP(name); ip != nil {
		serving.DNSNames, serving.IPs = []string{"localhost"}, append([]net.IP{ip}, serving.IPs...)
	}
	if n.Serving, err = ca.Ensure(dir, "kubelet-"+name, serving); err != nil {
		return nil, err
	}
	if err := WriteKubeconfig(n.Kubeconfig, cfg.Server, ca, user, n.Client); err != nil {
		return nil, err
	}
	return n, nil
}

// WriteKubeconfig writes a kubeconfig with one cluster, user and context,
// embedding the CA certificate and the client's certificate and key so that
// the file is usable on its own (in the node VM, say).
func WriteKubeconfig(path, server string, ca *Authority, user string, client Pair) error {
	certPEM, err := os.ReadFile(client.CertFile)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	keyPEM, err := os.ReadFile(client.KeyFile)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	const name = "kubelet-lite"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca.CertPEM()}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return writeAtomic(path, data, 0o600)
}
