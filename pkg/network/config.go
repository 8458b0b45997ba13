package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"

	"github.com/containernetworking/cni/libcni"
)

const (
	// DefaultNetworkName is the name of the network in the default configuration list.
	DefaultNetworkName = "kubelet-lite"
	// DefaultConfFile is the file EnsureDefaultConfig writes into the conf dir. It sorts
	// after the usual "10-" prefixes, so that a network DaemonSet's file wins when one is added.
	DefaultConfFile = "99-kubelet-lite.conflist"
	// DefaultBridge is the node-side bridge of the default network.
	DefaultBridge = "cni0"

	// cniVersion is the spec version of the configurations written here: 1.1.0 has GC and
	// STATUS, which the reference plugins of v1.10.0 implement.
	cniVersion = "1.1.0"
	// loopbackNetwork is the network run on each pod's lo, apart from the configured one, as
	// containerd and the dockershim do.
	loopbackNetwork = "cni-loopback"
	podIfName       = "eth0"
	loopbackIfName  = "lo"
)

// confExtensions are the file types the conf dir is read for, as upstream runtimes do.
var confExtensions = []string{".conflist", ".conf", ".json"}

// DefaultNetwork says what the default configuration list holds.
type DefaultNetwork struct {
	// PodCIDRs are the node's pod ranges, one per IP family (spec.podCIDRs); the first is
	// the primary one. Required.
	PodCIDRs []string
	// IPAMDataDir is where host-local records its allocations; empty means host-local's
	// default, /var/lib/cni/networks.
	IPAMDataDir string
}

// DefaultConfList returns the default configuration list: the bridge cni0 as the pods'
// gateway with masquerading and hairpin mode, host-local IPAM over the pod CIDRs with a
// default route, and portmap for hostPorts. Netfilter work goes through nftables (the `nft`
// command), explicitly, so that it does not depend on which tools the node happens to have.
func DefaultConfList(d DefaultNetwork) ([]byte, error) {
	if len(d.PodCIDRs) == 0 {
		return nil, errors.New("default CNI config: no pod CIDR")
	}
	var ranges [][]map[string]string
	var routes []map[string]string
	for _, c := range d.PodCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("default CNI config: pod CIDR %q: %w", c, err)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("default CNI config: pod CIDR %q has host bits set", c)
		}
		ranges = append(ranges, []map[string]string{{"subnet": p.String()}})
		dst := "0.0.0.0/0"
		if p.Addr().Is6() {
			dst = "::/0"
		}
		routes = append(routes, map[string]string{"dst": dst})
	}
	ipam := map[string]any{"type": "host-local", "ranges": ranges, "routes": routes}
	if d.IPAMDataDir != "" {
		ipam["dataDir"] = d.IPAMDataDir
	}
	list := map[string]any{
		"cniVersion": cniVersion,
		"name":       DefaultNetworkName,
		"plugins": []map[string]any{
			{
				"type":          "bridge",
				"bridge":        DefaultBridge,
				"isGateway":     true,
				"ipMasq":        true,
				"ipMasqBackend": "nftables",
				"hairpinMode":   true,
				"ipam":          ipam,
			},
			{
				"type":         "portmap",
				"backend":      "nftables",
				"capabilities": map[string]bool{"portMappings": true},
			},
		},
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("default CNI config: %w", err)
	}
	return append(b, '\n'), nil
}

// confFiles returns the configuration files in dir, sorted; the first that loads is the
// network pods get.
func confFiles(dir string) ([]string, error) {
	files, err := libcni.ConfFiles(dir, confExtensions)
	if err != nil {
		return nil, fmt.Errorf("read CNI conf dir %s: %w", dir, err)
	}
	sort.Strings(files)
	return files, nil
}

// loadConfList loads the pods' network: the first configuration file in dir, sorted by name,
// a .conf or .json being upconverted to a list of one plugin.
func loadConfList(dir string) (*libcni.NetworkConfigList, error) {
	files, err := confFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoConfig, dir)
	}
	f := files[0]
	if filepath.Ext(f) == ".conflist" {
		list, err := libcni.NetworkConfFromFile(f)
		if err != nil {
			return nil, fmt.Errorf("load CNI config %s: %w", f, err)
		}
		return list, nil
	}
	conf, err := libcni.ConfFromFile(f) //nolint:staticcheck // single-plugin files are still found on nodes
	if err != nil {
		return nil, fmt.Errorf("load CNI config %s: %w", f, err)
	}
	list, err := libcni.ConfListFromConf(conf) //nolint:staticcheck // as above
	if err != nil {
		return nil, fmt.Errorf("load CNI config %s: %w", f, err)
	}
	return list, nil
}

// loopbackConfList is the network run on each pod's lo.
func loopbackConfList() *libcni.NetworkConfigList {
	b := fmt.Appendf(nil, `{"cniVersion":%q,"name":%q,"plugins":[{"type":"loopback"}]}`, cniVersion, loopbackNetwork)
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		panic(fmt.Sprintf("loopback CNI config: %v", err)) // a constant; cannot fail
	}
	return list
}

// writeFileAtomic writes data to path through a temporary file in the same dir, so that a
// reader (the agent or a runtime) never sees half a configuration.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
