// Package config holds the agent's configuration: its defaults and the
// validation that runs before anything is started.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// Config is everything the agent is told at start.
type Config struct {
	// NodeName is this node's name (--hostname-override, else the hostname).
	NodeName string
	// RootDir holds the agent's state: images, sandboxes, containers.
	RootDir string
	// LogDir is where container logs go (<LogDir>/<ns>_<name>_<uid>/<ctr>/<n>.log).
	LogDir string
	// PodManifestPath is a directory of static pod manifests; "" disables it.
	PodManifestPath string
	// CgroupRoot is the absolute cgroup path under which kubepods/ is made.
	CgroupRoot string
	// PodPidsLimit is every pod's pids.max; -1 means unlimited.
	PodPidsLimit int64
	// FileCheckFrequency is how often the manifest directory is rescanned
	// in addition to inotify events.
	FileCheckFrequency time.Duration
	// MaxParallelStarts bounds how many pods are being set up at once.
	MaxParallelStarts int
	// MaxPods is how many pods the node admits.
	MaxPods int
	// AllowPrivileged admits pods with privileged containers.
	AllowPrivileged bool
	// AllowedUnsafeSysctls are sysctls (or prefixes ending in "*") pods may
	// set besides the safe ones.
	AllowedUnsafeSysctls []string
	// ContainerLogMaxSize is the size (a quantity such as 10Mi) beyond which
	// a container's log is rotated.
	ContainerLogMaxSize string
	// ContainerLogMaxFiles is how many files of a container's log are kept,
	// the live one included.
	ContainerLogMaxFiles int

	// Kubeconfig makes the agent a node of the cluster it names; "" runs
	// static pods only.
	Kubeconfig string
	// BootstrapKubeconfig, when Kubeconfig has no valid client certificate,
	// asks the cluster for one (a CSR made with its bootstrap token) and
	// writes Kubeconfig pointing at it.
	BootstrapKubeconfig string
	// CertDir holds the client and serving certificates the cluster
	// issues; "" means RootDir/pki.
	CertDir string
	// RotateCertificates renews the client certificate through a CSR
	// before it expires; RotateServerCertificates gets the kubelet API's
	// serving certificate from the cluster the same way.
	RotateCertificates, RotateServerCertificates bool
	// NodeIP is the address the node reports; "" picks the host's first.
	NodeIP string
	// Address and Port are where the kubelet API listens (TLS).
	Address string
	Port    int
	// HealthzAddr is the plain-HTTP /healthz listener.
	HealthzAddr string
	// TLSCertFile and TLSKeyFile are the kubelet API's serving certificate;
	// empty means a self-signed one in RootDir/pki.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile verifies client certificates at the kubelet API.
	ClientCAFile string
	// SystemReserved and KubeReserved (name=quantity, for cpu, memory,
	// ephemeral-storage and pid) are held back from the node's allocatable.
	SystemReserved, KubeReserved map[string]string
	// NodeLabels are extra labels the node registers with.
	NodeLabels map[string]string

	// NetworkPlugin is "cni" (pods get an IP on the node's CNI network) or
	// "none" (pods have only a loopback interface).
	NetworkPlugin string
	// CNIBinDir, CNIConfDir and CNICacheDir are the CNI plugins, their
	// configuration and libcni's cache; an empty cache dir means
	// RootDir/cni/cache.
	CNIBinDir, CNIConfDir, CNICacheDir string
	// PodCIDR is the pods' range of a node without an apiserver (a cluster
	// node takes its spec.podCIDR).
	PodCIDR string
	// ClusterDNS are the IPs of the cluster's DNS servers; ClusterDomain
	// is its domain.
	ClusterDNS    []string
	ClusterDomain string

	// ProxyMode is "ipvs" (a cluster node programs Service VIPs into the
	// kernel's IPVS table) or "none".
	ProxyMode string
	// ClusterCIDR is the cluster's pod network: Service traffic from
	// outside it is masqueraded; "" masquerades all of it.
	ClusterCIDR string

	// SeccompProfileRoot holds the Localhost seccomp profiles; "" means
	// RootDir/seccomp.
	SeccompProfileRoot string
	// SeccompDefault gives RuntimeDefault to the containers whose pod asks
	// for no seccomp profile. Unlike upstream's kubelet it is on by
	// default: a default pod is as confined as the runtime can make it.
	SeccompDefault bool
}

// Network plugins.
const (
	NetworkPluginCNI  = "cni"
	NetworkPluginNone = "none"
)

// Proxy modes.
const (
	ProxyModeIPVS = "ipvs"
	ProxyModeNone = "none"
)

// Default returns the configuration the flags start from.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		NodeName:           strings.ToLower(host),
		RootDir:            "/var/lib/kubelet-lite",
		LogDir:             "/var/log/pods",
		CgroupRoot:         "/",
		PodPidsLimit:       4096,
		FileCheckFrequency: 20 * time.Second,
		MaxParallelStarts:  8,
		MaxPods:            110,
		// The kubelet's containerLogMaxSize and containerLogMaxFiles defaults.
		ContainerLogMaxSize:  "10Mi",
		ContainerLogMaxFiles: 5,
		Address:              "0.0.0.0",
		Port:                 10250,
		HealthzAddr:          "127.0.0.1:10248",
		// Pods get no network unless asked: the default network is a bridge
		// with the pod CIDR on the node, which must be chosen deliberately.
		NetworkPlugin: NetworkPluginNone,
		CNIBinDir:     "/opt/cni/bin",
		CNIConfDir:    "/etc/cni/net.d",
		ClusterDomain: "cluster.local",
		// The proxy owns IPVS, kube-ipvs0 and an nftables table in the
		// agent's network namespace: it is turned on deliberately.
		ProxyMode:      ProxyModeNone,
		SeccompDefault: true,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("node name is empty: set --hostname-override"))
	}
	for flag, dir := range map[string]string{"--root-dir": c.RootDir, "--log-dir": c.LogDir} {
		if !filepath.IsAbs(dir) {
			errs = append(errs, fmt.Errorf("%s %q is not an absolute path", flag, dir))
		}
	}
	if c.SeccompProfileRoot != "" && !filepath.IsAbs(c.SeccompProfileRoot) {
		errs = append(errs, fmt.Errorf("--seccomp-profile-root %q is not an absolute path", c.SeccompProfileRoot))
	}
	if c.PodManifestPath != "" && !filepath.IsAbs(c.PodManifestPath) {
		errs = append(errs, fmt.Errorf("--pod-manifest-path %q is not an absolute path", c.PodManifestPath))
	}
	if !strings.HasPrefix(c.CgroupRoot, "/") || path.Clean(c.CgroupRoot) != c.CgroupRoot {
		errs = append(errs, fmt.Errorf("--cgroup-root %q is not a clean absolute cgroup path", c.CgroupRoot))
	}
	if c.PodPidsLimit < -1 || c.PodPidsLimit == 0 {
		errs = append(errs, fmt.Errorf("--pod-pids-limit %d: want -1 (unlimited) or a positive number", c.PodPidsLimit))
	}
	if c.MaxParallelStarts < 1 {
		errs = append(errs, fmt.Errorf("--max-parallel-starts %d: want at least 1", c.MaxParallelStarts))
	}
	if c.MaxPods < 1 {
		errs = append(errs, fmt.Errorf("--max-pods %d: want at least 1", c.MaxPods))
	}
	if q, err := resource.ParseQuantity(c.ContainerLogMaxSize); err != nil || q.Sign() <= 0 {
		errs = append(errs, fmt.Errorf("--container-log-max-size %q: want a positive quantity such as 10Mi", c.ContainerLogMaxSize))
	}
	if c.ContainerLogMaxFiles < 2 {
		errs = append(errs, fmt.Errorf("--container-log-max-files %d: want at least 2", c.ContainerLogMaxFiles))
	}
	if c.Kubeconfig == "" && c.PodManifestPath == "" {
		errs = append(errs, errors.New("no pod source: set --pod-manifest-path, --kubeconfig or both"))
	}
	if c.NodeIP != "" && net.ParseIP(c.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q is not an IP address", c.NodeIP))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: want 1-65535", c.Port))
	}
	errs = append(errs, c.validateCertificates()...)
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file go together"))
	}
	for flag, m := range map[string]map[string]string{"--system-reserved": c.SystemReserved, "--kube-reserved": c.KubeReserved} {
		if _, err := ParseReserved(m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	for k, v := range c.NodeLabels {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("--node-labels: key %q: %s", k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Errorf("--node-labels: value %q of %q: %s", v, k, msg))
		}
	}
	errs = append(errs, c.validateNetwork()...)
	if err := translate.ValidateUnsafeSysctls(c.AllowedUnsafeSysctls); err != nil {
		errs = append(errs, fmt.Errorf("--allowed-unsafe-sysctls: %w", err))
	}
	if c.FileCheckFrequency <= 0 {
		errs = append(errs, fmt.Errorf("--file-check-frequency %s: want a positive duration", c.FileCheckFrequency))
	}
	return errors.Join(errs...)
}

func (c *Config) validateCertificates() []error {
	var errs []error
	for flag, set := range map[string]bool{
		"--bootstrap-kubeconfig": c.BootstrapKubeconfig != "", "--rotate-certificates": c.RotateCertificates,
		"--rotate-server-certificates": c.RotateServerCertificates,
	} {
		if set && c.Kubeconfig == "" {
			errs = append(errs, fmt.Errorf("%s needs --kubeconfig: the node's credentials go there", flag))
		}
	}
	if c.RotateServerCertificates && c.TLSCertFile != "" {
		errs = append(errs, errors.New("--rotate-server-certificates and --tls-cert-file exclude each other"))
	}
	if c.CertDir != "" && !filepath.IsAbs(c.CertDir) {
		errs = append(errs, fmt.Errorf("--cert-dir %q is not an absolute path", c.CertDir))
	}
	return errs
}

func (c *Config) validateNetwork() []error {
	var errs []error
	switch c.NetworkPlugin {
	case NetworkPluginCNI, NetworkPluginNone:
	default:
		errs = append(errs, fmt.Errorf("--network-plugin %q: want cni or none", c.NetworkPlugin))
	}
	for flag, dir := range map[string]string{"--cni-bin-dir": c.CNIBinDir, "--cni-conf-dir": c.CNIConfDir} {
		if c.NetworkPlugin == NetworkPluginCNI && !filepath.IsAbs(dir) {
			errs = append(errs, fmt.Errorf("%s %q is not an absolute path", flag, dir))
		}
	}
	if c.CNICacheDir != "" && !filepath.IsAbs(c.CNICacheDir) {
		errs = append(errs, fmt.Errorf("--cni-cache-dir %q is not an absolute path", c.CNICacheDir))
	}
	if c.PodCIDR != "" {
		if p, err := netip.ParsePrefix(c.PodCIDR); err != nil || p != p.Masked() {
			errs = append(errs, fmt.Errorf("--pod-cidr %q is not a network such as 10.88.0.0/24", c.PodCIDR))
		}
	}
	for _, ip := range c.ClusterDNS {
		if _, err := netip.ParseAddr(ip); err != nil {
			errs = append(errs, fmt.Errorf("--cluster-dns %q is not an IP address", ip))
		}
	}
	switch c.ProxyMode {
	case ProxyModeIPVS:
		if c.Kubeconfig == "" {
			errs = append(errs, errors.New("--proxy-mode ipvs needs --kubeconfig: the proxy serves the cluster's Services"))
		}
	case ProxyModeNone:
	default:
		errs = append(errs, fmt.Errorf("--proxy-mode %q: want ipvs or none", c.ProxyMode))
	}
	if c.ClusterCIDR != "" {
		if p, err := netip.ParsePrefix(c.ClusterCIDR); err != nil || p != p.Masked() || !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("--cluster-cidr %q is not an IPv4 network such as 10.244.0.0/16", c.ClusterCIDR))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(c.ClusterDomain) {
		if c.ClusterDomain != "" {
			errs = append(errs, fmt.Errorf("--cluster-domain %q: %s", c.ClusterDomain, msg))
		}
	}
	return errs
}

// ParseReserved turns a --system-reserved or --kube-reserved map into a
// resource list. It accepts the resources upstream's kubelet does: cpu,
// memory, ephemeral-storage and pid.
func ParseReserved(m map[string]string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for name, value := range m {
		switch corev1.ResourceName(name) {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, "pid":
		default:
			return nil, fmt.Errorf("unknown resource %q: want cpu, memory, ephemeral-storage or pid", name)
		}
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", name, value, err)
		}
		if q.Sign() < 0 {
			return nil, fmt.Errorf("%s=%s: negative", name, value)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

// ContainerLogMaxBytes is ContainerLogMaxSize in bytes; 0 when it does not
// parse (Validate reports that).
func (c *Config) ContainerLogMaxBytes() int64 {
	q, err := resource.ParseQuantity(c.ContainerLogMaxSize)
	if err != nil {
		return 0
	}
	return q.Value()
}

// CertificateDir is where the cluster's certificates for this node are kept.
func (c *Config) CertificateDir() string {
	if c.CertDir != "" {
		return c.CertDir
	}
	return filepath.Join(c.RootDir, "pki")
}

// ImageDir is where the image store keeps layers and metadata.
func (c *Config) ImageDir() string { return filepath.Join(c.RootDir, "images") }

// StatusDir is where pod statuses are kept for readers such as ps.
func (c *Config) StatusDir() string { return filepath.Join(c.RootDir, "status") }

// VolumeDir is where pod volumes are made.
func (c *Config) VolumeDir() string { return filepath.Join(c.RootDir, "pods") }

// CNICache is libcni's cache of each pod's network attachment.
func (c *Config) CNICache() string {
	if c.CNICacheDir != "" {
		return c.CNICacheDir
	}
	return filepath.Join(c.RootDir, "cni", "cache")
}

// IPAMDir is where host-local records the IPs of the default network.
func (c *Config) IPAMDir() string { return filepath.Join(c.RootDir, "cni", "networks") }

// NetNSDir is where each pod's network namespace is pinned.
func (c *Config) NetNSDir() string { return filepath.Join(c.RootDir, "netns") }

// EtcDir is where each pod's /etc/hosts, /etc/resolv.conf and /etc/hostname
// are written.
func (c *Config) EtcDir() string { return filepath.Join(c.RootDir, "etc") }

// SandboxDir is where the runtime keeps sandbox and container state.
func (c *Config) SandboxDir() string { return filepath.Join(c.RootDir, "sandbox") }

// SeccompDir is where the Localhost seccomp profiles are read from.
func (c *Config) SeccompDir() string {
	if c.SeccompProfileRoot != "" {
		return c.SeccompProfileRoot
	}
	return filepath.Join(c.RootDir, "seccomp")
}
