package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"k8s.io/klog/v2"
)

// ErrNoConfig is returned (wrapped) when the conf dir holds no network configuration.
var ErrNoConfig = errors.New("no CNI network configuration")

// Config says where the CNI configuration, plugins and cache are.
type Config struct {
	// ConfDir holds the network configuration (--cni-conf-dir). Required.
	ConfDir string
	// BinDirs are searched for the plugins, in order (--cni-bin-dir). Required.
	BinDirs []string
	// CacheDir is libcni's cache of each sandbox's configuration and result, which DEL and
	// CHECK use after a restart (upstream runtimes use /var/lib/cni). Required.
	CacheDir string
	// IPAMDataDir is where host-local records allocations in the default configuration that
	// EnsureDefaultConfig writes; empty means host-local's default.
	IPAMDataDir string
	// Exec runs the plugins; nil runs them as children of the calling OS thread.
	Exec invoke.Exec
}

// Pod is one pod sandbox's attachment to the network.
type Pod struct {
	// ID is the CNI container ID: the pod UID, or the sandbox ID where a pod can have more
	// than one sandbox in its life. Setup and Teardown of one ID must not run concurrently.
	ID        string
	Namespace string
	Name      string
	UID       string
	// NetNS is the path of the sandbox's network namespace, pinned (see PinNetNS) so that it
	// names that namespace and no other for the sandbox's life. Teardown may get an empty path
	// or one that no longer names a namespace.
	NetNS        string
	PortMappings []PortMapping
}

func (p Pod) String() string { return p.Namespace + "/" + p.Name }

// Result is a pod's network after Setup.
type Result struct {
	// IPs are the pod's addresses, the primary one first.
	IPs []netip.Addr
}

// Manager runs the CNI plugins for the node's pods.
type Manager struct {
	cfg  Config
	exec invoke.Exec
	cni  *libcni.CNIConfig

	// placeholder is an empty network namespace for DEL of sandboxes whose own is gone
	// (see delNetNS), made on first use.
	placeholderOnce sync.Once
	placeholder     *os.File

	mu sync.Mutex
	// adding holds the port mappings of ADDs in flight, which the cache does not have yet.
	adding map[string]holder
}

// New returns a Manager for cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.ConfDir == "" || len(cfg.BinDirs) == 0 || cfg.CacheDir == "" {
		return nil, errors.New("network: ConfDir, BinDirs and CacheDir are required")
	}
	exec := cfg.Exec
	if exec == nil {
		// No Stderr: what a plugin prints there on success is informational only, and on
		// failure it is part of the returned error.
		exec = &invoke.DefaultExec{RawExec: &invoke.RawExec{}}
	}
	return &Manager{
		cfg:    cfg,
		exec:   exec,
		cni:    libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, exec),
		adding: map[string]holder{},
	}, nil
}

// EnsureDefaultConfig writes the default configuration list (see DefaultConfList) for the
// node's pod CIDRs into the conf dir when it holds no configuration, and reports whether it
// wrote one. A configuration already there, the default one included, is left as it is.
func (m *Manager) EnsureDefaultConfig(podCIDRs ...string) (bool, error) {
	files, err := confFiles(m.cfg.ConfDir)
	if err != nil {
		return false, err
	}
	if len(files) > 0 {
		return false, nil
	}
	b, err := DefaultConfList(DefaultNetwork{PodCIDRs: podCIDRs, IPAMDataDir: m.cfg.IPAMDataDir})
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(m.cfg.ConfDir, 0o755); err != nil {
		return false, fmt.Errorf("write default CNI config: %w", err)
	}
	path := filepath.Join(m.cfg.ConfDir, DefaultConfFile)
	if err := writeFileAtomic(path, b, 0o644); err != nil {
		return false, fmt.Errorf("write default CNI config %s: %w", path, err)
	}
	return true, nil
}

// Status returns nil when the node's network is usable: a configuration is there, each of its
// plugins and loopback is found, and the plugins answer STATUS. The node's Ready condition can
// carry its error.
func (m *Manager) Status(ctx context.Context) error {
	list, err := loadConfList(m.cfg.ConfDir)
	if err != nil {
		return err
	}
	for _, p := range append(list.Plugins, loopbackConfList().Plugins...) {
		if _, err := m.exec.FindInPath(p.Network.Type, m.cfg.BinDirs); err != nil {
			return err
		}
	}
	if err := m.cni.GetStatusNetworkList(ctx, list); err != nil {
		return fmt.Errorf("CNI network %s: %w", list.Name, err)
	}
	return nil
}

// Setup attaches the pod's network namespace to the network (CNI ADD), and returns its IPs.
// It is idempotent: when the cache has a result for this ID and namespace and CHECK passes, that
// result is returned with nothing changed. What is left of an earlier attachment that does not
// pass (another namespace, an ADD cut short) is deleted first. A host port that another pod
// holds is an error wrapping ErrHostPortConflict.
func (m *Manager) Setup(ctx context.Context, pod Pod) (*Result, error) {
	if pod.ID == "" {
		return nil, fmt.Errorf("set up network of pod %s: ID is required", pod)
	}
	if err := checkPodNetNS(pod.NetNS); err != nil {
		return nil, fmt.Errorf("set up network of pod %s: %w", pod, err)
	}
	list, err := loadConfList(m.cfg.ConfDir)
	if err != nil {
		return nil, fmt.Errorf("set up network of pod %s: %w", pod, err)
	}
	if res, err := m.reuse(ctx, list.Name, pod); err != nil || res != nil {
		return res, err
	}
	release, err := m.reservePorts(pod)
	if err != nil {
		return nil, fmt.Errorf("set up network of pod %s: %w", pod, err)
	}
	defer release()

	if _, err := m.cni.AddNetworkList(ctx, loopbackConfList(), m.runtimeConf(pod, loopbackIfName)); err != nil {
		return nil, fmt.Errorf("set up loopback of pod %s: %w", pod, err)
	}
	rt := m.runtimeConf(pod, podIfName)
	res, err := m.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		// What an ADD cut short left (the pod's eth0, host-local's allocation for this ID)
		// makes the next ADD fail; DEL clears it all, then ADD once more. When that fails too,
		// DEL again so that the pod holds nothing on the node.
		klog.FromContext(ctx).V(2).Info("CNI ADD failed; deleting and adding again", "pod", pod.String(), "id", pod.ID, "err", err)
		if derr := m.cni.DelNetworkList(ctx, list, rt); derr != nil {
			return nil, fmt.Errorf("set up network of pod %s: %w (and DEL: %v)", pod, err, derr)
		}
		if res, err = m.cni.AddNetworkList(ctx, list, rt); err != nil {
			if derr := m.cni.DelNetworkList(ctx, list, rt); derr != nil {
				return nil, fmt.Errorf("set up network of pod %s: %w (and DEL: %v)", pod, err, derr)
			}
			return nil, fmt.Errorf("set up network of pod %s: %w", pod, err)
		}
	}
	out, err := toResult(res)
	if err != nil {
		return nil, fmt.Errorf("set up network of pod %s: %w", pod, err)
	}
	return out, nil
}

// reuse returns the cached result of the pod's attachment when it is to network, for the same
// namespace, and CHECK passes. Otherwise it deletes what is there (an attachment to a network
// configured before, or in a namespace made before) and returns nil.
func (m *Manager) reuse(ctx context.Context, network string, pod Pod) (*Result, error) {
	att, err := m.attachment(pod.ID)
	if err != nil || att == nil {
		return nil, err
	}
	logger := klog.FromContext(ctx)
	if att.Network == network && att.NetNS == pod.NetNS {
		list, rt, err := cachedConf(att)
		if err != nil {
			return nil, fmt.Errorf("set up network of pod %s: %w", pod, err)
		}
		if err := m.cni.CheckNetworkList(ctx, list, rt); err == nil {
			res, err := m.cni.GetNetworkListCachedResult(list, rt)
			if err == nil && res != nil {
				return toResult(res)
			}
		} else {
			logger.V(2).Info("CNI CHECK failed; setting the network up again", "pod", pod.String(), "id", pod.ID, "err", err)
		}
	}
	if err := m.del(ctx, att); err != nil {
		return nil, fmt.Errorf("set up network of pod %s: delete stale attachment: %w", pod, err)
	}
	return nil, nil
}

// Teardown detaches the pod from the network (CNI DEL) and releases its IPs and host ports.
// It uses what the cache recorded at ADD (configuration, CNI_ARGS, port mappings), so it works
// after a restart and after the configuration changed; without a cache entry it runs DEL with
// the current configuration, which releases what an ADD cut short may hold. It succeeds when
// nothing is left to delete, and when the namespace is gone (see delNetNS).
func (m *Manager) Teardown(ctx context.Context, pod Pod) error {
	if pod.ID == "" {
		return fmt.Errorf("tear down network of pod %s: ID is required", pod)
	}
	atts, err := m.cni.GetCachedAttachments(pod.ID)
	if err != nil {
		return fmt.Errorf("tear down network of pod %s: read CNI cache: %w", pod, err)
	}
	var errs []error
	attached := false
	for _, att := range atts {
		attached = attached || att.Network != loopbackNetwork
		if err := m.del(ctx, att); err != nil {
			errs = append(errs, err)
		}
	}
	if !attached {
		list, err := loadConfList(m.cfg.ConfDir)
		switch {
		case errors.Is(err, ErrNoConfig):
		case err != nil:
			errs = append(errs, err)
		default:
			rt := m.runtimeConf(pod, podIfName)
			rt.NetNS = m.delNetNS(pod.NetNS)
			if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
				errs = append(errs, fmt.Errorf("CNI DEL %s: %w", list.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down network of pod %s: %w", pod, err)
	}
	return nil
}

// IPs returns the pod's IPs as the cache recorded them at ADD, or none when it has no
// attachment.
func (m *Manager) IPs(id string) ([]netip.Addr, error) {
	atts, err := m.cni.GetCachedAttachments(id)
	if err != nil {
		return nil, fmt.Errorf("read CNI cache: %w", err)
	}
	for _, att := range atts {
		if att.Network == loopbackNetwork {
			continue
		}
		list, rt, err := cachedConf(att)
		if err != nil {
			return nil, err
		}
		res, err := m.cni.GetNetworkListCachedResult(list, rt)
		if err != nil || res == nil {
			return nil, fmt.Errorf("cached CNI result of %s: %w", id, err)
		}
		r, err := toResult(res)
		if err != nil {
			return nil, err
		}
		return r.IPs, nil
	}
	return nil, nil
}

// GC deletes the cached attachments of every sandbox not in keep (by ID): the clean-up after
// sandboxes that went while the agent was down. Then it runs the plugins' own GC (CNI 1.1)
// with keep as the valid attachments; of the v1.10.0 reference plugins bridge does not
// implement it yet, so for the default network that step does nothing. It must not run while
// a Setup for an ID not in keep is in flight.
func (m *Manager) GC(ctx context.Context, keep []string) error {
	valid := map[string]bool{}
	for _, id := range keep {
		valid[id] = true
	}
	atts, err := m.cni.GetCachedAttachments("")
	if err != nil {
		return fmt.Errorf("CNI GC: read cache: %w", err)
	}
	var errs []error
	for _, att := range atts {
		if !valid[att.ContainerID] {
			if err := m.del(ctx, att); err != nil {
				errs = append(errs, err)
			}
		}
	}
	list, err := loadConfList(m.cfg.ConfDir)
	if err == nil {
		args := &libcni.GCArgs{}
		for _, id := range keep {
			args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: id, IfName: podIfName})
		}
		if err := m.cni.GCNetworkList(ctx, list, args); err != nil {
			errs = append(errs, fmt.Errorf("GC %s: %w", list.Name, err))
		}
	} else if !errors.Is(err, ErrNoConfig) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("CNI GC: %w", err)
	}
	return nil
}

// del runs DEL for a cached attachment with what ADD was given, but for a namespace that is
// gone (see delNetNS). libcni removes the cache entry when DEL succeeds.
func (m *Manager) del(ctx context.Context, att *libcni.NetworkAttachment) error {
	list, rt, err := cachedConf(att)
	if err != nil {
		return err
	}
	rt.NetNS = m.delNetNS(att.NetNS)
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("CNI DEL %s for %s: %w", att.Network, att.ContainerID, err)
	}
	return nil
}

// attachment returns the cached attachment of id on the pod's interface, or nil.
func (m *Manager) attachment(id string) (*libcni.NetworkAttachment, error) {
	atts, err := m.cni.GetCachedAttachments(id)
	if err != nil {
		return nil, fmt.Errorf("read CNI cache: %w", err)
	}
	for _, att := range atts {
		if att.Network != loopbackNetwork && att.IfName == podIfName {
			return att, nil
		}
	}
	return nil, nil
}

// cachedConf rebuilds the configuration list and runtime configuration of a cached attachment.
func cachedConf(att *libcni.NetworkAttachment) (*libcni.NetworkConfigList, *libcni.RuntimeConf, error) {
	list, err := libcni.NetworkConfFromBytes(att.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("cached CNI config of %s (%s): %w", att.ContainerID, att.Network, err)
	}
	return list, &libcni.RuntimeConf{
		ContainerID:    att.ContainerID,
		NetNS:          att.NetNS,
		IfName:         att.IfName,
		Args:           att.CniArgs,
		CapabilityArgs: att.CapabilityArgs,
	}, nil
}

// runtimeConf is what ADD and DEL get for the pod on ifName: the CNI_ARGS that Kubernetes
// runtimes pass, and the port mappings as the portMappings capability.
func (m *Manager) runtimeConf(pod Pod, ifName string) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: pod.ID,
		NetNS:       pod.NetNS,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", pod.ID},
			{"K8S_POD_UID", pod.UID},
		},
	}
	if ports := normalize(pod.PortMappings); ifName == podIfName && len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// reservePorts checks the pod's host ports against those of every other pod in the cache and
// of ADDs in flight, and holds them until the returned release is called (by then the cache has
// them, or the ADD failed).
func (m *Manager) reservePorts(pod Pod) (release func(), err error) {
	ports := normalize(pod.PortMappings)
	if len(ports) == 0 {
		return func() {}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	holders, err := m.cachedHolders()
	if err != nil {
		return nil, err
	}
	for _, h := range m.adding {
		holders = append(holders, h)
	}
	if err := portConflict(pod.ID, ports, holders); err != nil {
		return nil, err
	}
	m.adding[pod.ID] = holder{id: pod.ID, pod: pod.String(), ports: ports}
	return func() {
		m.mu.Lock()
		delete(m.adding, pod.ID)
		m.mu.Unlock()
	}, nil
}

// cachedHolders returns the host ports that the cache records for each attachment.
func (m *Manager) cachedHolders() ([]holder, error) {
	atts, err := m.cni.GetCachedAttachments("")
	if err != nil {
		return nil, fmt.Errorf("read CNI cache: %w", err)
	}
	var hs []holder
	for _, att := range atts {
		raw, ok := att.CapabilityArgs["portMappings"]
		if !ok {
			continue
		}
		var ports []PortMapping
		if b, err := json.Marshal(raw); err == nil {
			err = json.Unmarshal(b, &ports)
		}
		hs = append(hs, holder{id: att.ContainerID, pod: podName(att.CniArgs), ports: ports})
	}
	return hs, nil
}

// podName returns namespace/name from CNI_ARGS.
func podName(args [][2]string) string {
	var ns, name string
	for _, kv := range args {
		switch kv[0] {
		case "K8S_POD_NAMESPACE":
			ns = kv[1]
		case "K8S_POD_NAME":
			name = kv[1]
		}
	}
	return ns + "/" + name
}

// toResult takes the pod's IPs from a CNI result: those on an interface inside the sandbox
// (or on none named), in the result's order.
func toResult(r types.Result) (*Result, error) {
	res, err := types100.NewResultFromResult(r)
	if err != nil {
		return nil, fmt.Errorf("CNI result: %w", err)
	}
	out := &Result{}
	for _, ip := range res.IPs {
		if ip.Interface != nil && *ip.Interface < len(res.Interfaces) && res.Interfaces[*ip.Interface].Sandbox == "" {
			continue
		}
		a, ok := netip.AddrFromSlice(ip.Address.IP)
		if !ok {
			continue
		}
		out.IPs = append(out.IPs, a.Unmap())
	}
	if len(out.IPs) == 0 {
		return nil, errors.New("CNI result has no IP for the pod")
	}
	return out, nil
}
