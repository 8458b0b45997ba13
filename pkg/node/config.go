package node

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/kubelet-lite/kubelet-lite/pkg/version"
)

// Defaults, as upstream's kubelet has them.
const (
	DefaultMaxPods        = 110
	DefaultKubeletPort    = 10250
	DefaultStatusInterval = 10 * time.Second
	DefaultLeaseDuration  = 40 * time.Second
	// StatusReportFrequency is how often the status is patched even when
	// nothing changed (upstream's nodeStatusReportFrequency).
	StatusReportFrequency = 5 * time.Minute
	// LeaseNamespace holds the nodes' Leases.
	LeaseNamespace = "kube-node-lease"
	// LabelCgroupVersion is the label that carries the node's cgroup version.
	LabelCgroupVersion = "kubelet-lite.io/cgroup-version"
)

// Config is what a Controller needs. Client, NodeName and RootDir are
// required; the rest has defaults.
type Config struct {
	// Client talks to the apiserver as the node (system:node:<NodeName>).
	Client kubernetes.Interface
	// NodeName is the Node's name, also its kubernetes.io/hostname label and
	// Hostname address.
	NodeName string
	// NodeIP is the InternalIP address. Default: the first non-loopback IPv4
	// address of the host, else 127.0.0.1.
	NodeIP net.IP
	// Labels are extra labels. kubernetes.io/hostname, kubernetes.io/os,
	// kubernetes.io/arch and kubelet-lite.io/cgroup-version are always set
	// and win over these. NodeRestriction refuses most other labels under
	// kubernetes.io/ and k8s.io/.
	Labels map[string]string
	// SystemReserved and KubeReserved are subtracted from capacity for
	// allocatable.
	SystemReserved, KubeReserved corev1.ResourceList
	// MaxPods is the pods capacity. Default 110.
	MaxPods int
	// RootDir is where pods' ephemeral storage lives: its filesystem gives
	// the ephemeral-storage capacity and the DiskPressure signal. It must
	// exist when Run starts (else the node is NotReady with the statfs
	// error).
	RootDir string
	// Version is reported as nodeInfo.kubeletVersion and in
	// containerRuntimeVersion "kubelet-lite://<Version>". Default:
	// version.Version.
	Version string
	// CgroupVersion is "v1" or "v2", published as the label
	// kubelet-lite.io/cgroup-version. Default: detected.
	CgroupVersion string
	// KubeletPort is status.daemonEndpoints.kubeletEndpoint.Port. Default 10250.
	KubeletPort int
	// Ready says whether the node can run pods: nil makes the Ready condition
	// True (KubeletReady), an error makes it False (KubeletNotReady) with the
	// error as its message. It is called once per status sync and must be
	// quick. Default: always ready.
	Ready func() error
	// OnPodCIDR, if set, is called with spec.podCIDR each time it changes
	// (first when the controller-manager assigns it). It runs on the
	// controller's goroutine and must not block.
	OnPodCIDR func(podCIDR string)
	// Machine reads the machine's facts. Default: Host{}.
	Machine Machine
	// Clock is used for condition times, the status interval and lease
	// renew times. Default: the real clock.
	Clock clock.Clock
	// StatusInterval is how often the status is computed and, when it
	// changed, patched. Default 10s.
	StatusInterval time.Duration
	// LeaseDuration is the Lease's spec.leaseDurationSeconds. Default 40s.
	LeaseDuration time.Duration
	// LeaseRenewInterval is how often the Lease is renewed (on the real
	// clock: the lease library's timer does not take one). Default
	// LeaseDuration/4, as upstream.
	LeaseRenewInterval time.Duration
}

// Controller registers the Node, keeps its status and Lease up to date and
// reports its pod CIDR. Create it with New and start it with Run.
type Controller struct {
	cfg Config

	// Owned by the Run goroutine.
	lastReport time.Time

	mu      sync.Mutex
	podCIDR string
}

// New checks cfg, fills in defaults and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("node config: no client")
	}
	if errs := validation.IsDNS1123Subdomain(cfg.NodeName); len(errs) > 0 {
		return nil, fmt.Errorf("node config: node name %q: %s", cfg.NodeName, strings.Join(errs, "; "))
	}
	if cfg.RootDir == "" {
		return nil, errors.New("node config: no root dir")
	}
	if cfg.MaxPods < 0 || cfg.KubeletPort < 0 || cfg.KubeletPort > 65535 {
		return nil, fmt.Errorf("node config: max pods %d or kubelet port %d out of range", cfg.MaxPods, cfg.KubeletPort)
	}
	if cfg.StatusInterval < 0 || cfg.LeaseDuration < 0 || cfg.LeaseRenewInterval < 0 {
		return nil, errors.New("node config: negative interval")
	}
	if cfg.LeaseDuration != 0 && cfg.LeaseDuration < time.Second {
		return nil, fmt.Errorf("node config: lease duration %s is under a second", cfg.LeaseDuration)
	}
	switch cfg.CgroupVersion {
	case "":
		cfg.CgroupVersion = "v1"
		if cgroups.IsCgroup2UnifiedMode() {
			cfg.CgroupVersion = "v2"
		}
	case "v1", "v2":
	default:
		return nil, fmt.Errorf("node config: cgroup version %q is not v1 or v2", cfg.CgroupVersion)
	}
	setDefaults(&cfg)
	return &Controller{cfg: cfg}, nil
}

func setDefaults(cfg *Config) {
	if cfg.NodeIP == nil {
		cfg.NodeIP = defaultNodeIP()
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = DefaultMaxPods
	}
	if cfg.Version == "" {
		cfg.Version = version.Version
	}
	if cfg.KubeletPort == 0 {
		cfg.KubeletPort = DefaultKubeletPort
	}
	if cfg.Ready == nil {
		cfg.Ready = func() error { return nil }
	}
	if cfg.Machine == nil {
		cfg.Machine = Host{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.LeaseRenewInterval == 0 {
		cfg.LeaseRenewInterval = cfg.LeaseDuration / 4
	}
}

// defaultNodeIP returns the first non-loopback IPv4 address of the host's
// interfaces, or 127.0.0.1.
func defaultNodeIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ip4 := ipn.IP.To4(); ip4 != nil {
				return ip4
			}
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

// defaultLabels returns the labels the controller always sets.
func (c *Controller) defaultLabels() map[string]string {
	return map[string]string{
		corev1.LabelHostname:   c.cfg.NodeName,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: runtime.GOARCH,
		LabelCgroupVersion:     c.cfg.CgroupVersion,
	}
}

// PodCIDR returns spec.podCIDR as last read from the Node, "" until the
// controller-manager assigns one.
func (c *Controller) PodCIDR() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.podCIDR
}

// observePodCIDR records node's spec.podCIDR and calls OnPodCIDR when it
// changed.
func (c *Controller) observePodCIDR(node *corev1.Node) {
	cidr := node.Spec.PodCIDR
	c.mu.Lock()
	changed := cidr != c.podCIDR
	c.podCIDR = cidr
	c.mu.Unlock()
	if changed && c.cfg.OnPodCIDR != nil {
		c.cfg.OnPodCIDR(cidr)
	}
}
