package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/dns"
	"github.com/kubelet-lite/kubelet-lite/pkg/network"
	"github.com/kubelet-lite/kubelet-lite/pkg/podworker"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// cniNetwork attaches pods to the node's CNI network: it pins each pod
// sandbox's network namespace at netnsDir/<uid>, which libcni's cache then
// names for DEL, and runs the plugins through pkg/network.
type cniNetwork struct {
	mgr      *network.Manager
	netnsDir string
	// waitsFor says what the node's network waits for while it has no
	// configuration, for the pods' message.
	waitsFor string
}

var _ podworker.Network = (*cniNetwork)(nil)

func newCNINetwork(cfg config.Config) (*cniNetwork, error) {
	mgr, err := network.New(network.Config{
		ConfDir: cfg.CNIConfDir, BinDirs: []string{cfg.CNIBinDir}, CacheDir: cfg.CNICache(), IPAMDataDir: cfg.IPAMDir(),
	})
	if err != nil {
		return nil, err
	}
	n := &cniNetwork{mgr: mgr, netnsDir: cfg.NetNSDir(), waitsFor: "--pod-cidr or a configuration in " + cfg.CNIConfDir}
	if cfg.Kubeconfig != "" && cfg.PodCIDR == "" {
		n.waitsFor = "the node's spec.podCIDR or a configuration in " + cfg.CNIConfDir
	}
	if cfg.PodCIDR != "" {
		if err := n.setPodCIDR(cfg.PodCIDR); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// setPodCIDR writes the default network for the node's pod CIDR when the
// conf dir has no configuration.
func (n *cniNetwork) setPodCIDR(cidr string) error {
	wrote, err := n.mgr.EnsureDefaultConfig(cidr)
	if err != nil {
		return err
	}
	if wrote {
		klog.InfoS("Wrote the default pod network configuration", "podCIDR", cidr)
	}
	return nil
}

func (n *cniNetwork) netnsPath(pod *corev1.Pod) string {
	return filepath.Join(n.netnsDir, string(pod.UID))
}

func (n *cniNetwork) Setup(ctx context.Context, pod *corev1.Pod, sandboxPID int) ([]string, error) {
	path := n.netnsPath(pod)
	src := fmt.Sprintf("/proc/%d/ns/net", sandboxPID)
	if !sameFile(src, path) {
		// What is pinned there is an earlier sandbox's namespace: detach
		// the pod from the network there before pinning the new one.
		if _, err := os.Stat(path); err == nil {
			if err := n.Teardown(ctx, pod); err != nil {
				return nil, err
			}
		}
		if err := network.PinNetNS(src, path); err != nil {
			return nil, err
		}
	}
	res, err := n.mgr.Setup(ctx, cniPod(pod, path))
	switch {
	case errors.Is(err, network.ErrNoConfig):
		return nil, fmt.Errorf("%w: %w (waiting for %s)", podworker.ErrNetworkNotReady, err, n.waitsFor)
	case errors.Is(err, network.ErrHostPortConflict):
		return nil, fmt.Errorf("%w: %w", podworker.ErrHostPortConflict, err)
	case err != nil:
		return nil, err
	}
	ips := make([]string, 0, len(res.IPs))
	for _, ip := range res.IPs {
		ips = append(ips, ip.String())
	}
	return ips, nil
}

// Teardown detaches the pod, then unpins its namespace: DEL must still find
// the pod's interface to remove it and its host ports.
func (n *cniNetwork) Teardown(ctx context.Context, pod *corev1.Pod) error {
	path := n.netnsPath(pod)
	if err := n.mgr.Teardown(ctx, cniPod(pod, path)); err != nil {
		return err
	}
	return network.UnpinNetNS(path)
}

// Ready is the network's part of the node's Ready condition.
func (n *cniNetwork) Ready() error {
	if err := n.mgr.Status(context.Background()); err != nil {
		return fmt.Errorf("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:%w", err)
	}
	return nil
}

// gc detaches the pods whose sandbox went while the agent was down: every
// attachment and pinned namespace but those of the sandboxes the runtime
// still has. It runs before any pod is set up.
func (n *cniNetwork) gc(ctx context.Context, rt *sandbox.Runtime) error {
	pods, err := rt.ListPods()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	var ids []string
	for _, p := range pods {
		keep[string(p.UID)] = true
		ids = append(ids, string(p.UID))
	}
	errs := []error{n.mgr.GC(ctx, ids)}
	entries, err := os.ReadDir(n.netnsDir)
	if err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			errs = append(errs, network.UnpinNetNS(filepath.Join(n.netnsDir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// cniPod is the pod's attachment as pkg/network takes it; the CNI container
// ID is the pod's UID, since a pod has one sandbox at a time.
func cniPod(pod *corev1.Pod, netns string) network.Pod {
	return network.Pod{
		ID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID),
		NetNS: netns, PortMappings: portMappings(pod),
	}
}

// portMappings are the pod's hostPorts.
func portMappings(pod *corev1.Pod) []network.PortMapping {
	var out []network.PortMapping
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort > 0 {
					out = append(out, network.PortMapping{
						HostPort: p.HostPort, ContainerPort: p.ContainerPort,
						Protocol: strings.ToLower(string(p.Protocol)), HostIP: p.HostIP,
					})
				}
			}
		}
	}
	return out
}

// sameFile tells whether two paths name the same inode (for namespaces:
// the same namespace).
func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// etcFiles is how pods get their managed /etc files: the DNS setting of the
// flags over the host's resolv.conf.
func etcFiles(cfg config.Config) *podworker.EtcFiles {
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		klog.InfoS("Pods with dnsPolicy Default get an empty resolv.conf: the host has none", "err", err)
	}
	host, _ := os.Hostname()
	return &podworker.EtcFiles{
		Dir:          cfg.EtcDir(),
		DNS:          dns.Config{ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain, HostResolvConf: hostResolv},
		NodeHostname: host,
	}
}
