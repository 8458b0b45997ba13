package podworker

import (
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/dns"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// EtcFiles says how pods get the /etc/hosts, /etc/resolv.conf and
// /etc/hostname the kubelet manages.
type EtcFiles struct {
	// Dir holds each pod's files, in Dir/<uid>/.
	Dir string
	// DNS is the node's DNS setting, the host's resolv.conf included.
	DNS dns.Config
	// HostHosts reads the host's /etc/hosts, the base of a hostNetwork
	// pod's; nil reads /etc/hosts.
	HostHosts func() ([]byte, error)
	// NodeHostname is the hostname of a hostNetwork pod.
	NodeHostname string
}

// etcFile is one managed file: its name in the pod's dir and its place in
// the containers.
type etcFile struct{ name, dest string }

var etcFiles = []etcFile{{"hosts", "/etc/hosts"}, {"resolv.conf", "/etc/resolv.conf"}, {"hostname", "/etc/hostname"}}

// podEtc returns the content of each managed file by name, and the DNS
// warnings upstream reports as events. A pod on the host's network gets the
// host's hosts file with its hostAliases and the node's hostname.
func podEtc(pod *corev1.Pod, ips []string, cfg dns.Config, hostHosts []byte, nodeHostname string) (map[string][]byte, []dns.Warning) {
	resolv, warnings := dns.PodResolvConf(pod, cfg)
	files := map[string][]byte{"resolv.conf": resolv.Bytes()}
	if pod.Spec.HostNetwork {
		files["hosts"] = dns.HostNetworkHostsFile(pod, hostHosts)
		files["hostname"] = []byte(nodeHostname + "\n")
	} else {
		files["hosts"] = dns.HostsFile(pod, ips, cfg.ClusterDomain)
		host, _ := dns.Hostname(pod, cfg.ClusterDomain)
		files["hostname"] = []byte(host + "\n")
	}
	return files, warnings
}

// writeEtc writes the pod's managed files and returns their mounts.
func (e *EtcFiles) write(pod *corev1.Pod, ips []string) ([]sandbox.Mount, []dns.Warning, error) {
	var hostHosts []byte
	if pod.Spec.HostNetwork {
		read := e.HostHosts
		if read == nil {
			read = func() ([]byte, error) { return os.ReadFile("/etc/hosts") }
		}
		var err error
		if hostHosts, err = read(); err != nil {
			return nil, nil, fmt.Errorf("read the host's hosts file: %w", err)
		}
	}
	files, warnings := podEtc(pod, ips, e.DNS, hostHosts, e.NodeHostname)
	dir := e.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("pod files: %w", err)
	}
	var mounts []sandbox.Mount
	for _, f := range etcFiles {
		path := filepath.Join(dir, f.name)
		if err := writeFile(path, files[f.name]); err != nil {
			return nil, nil, fmt.Errorf("pod file %s: %w", f.dest, err)
		}
		mounts = append(mounts, sandbox.Mount{Source: path, Destination: f.dest})
	}
	return mounts, warnings, nil
}

func (e *EtcFiles) podDir(uid types.UID) string { return filepath.Join(e.Dir, string(uid)) }

// writeFile replaces path's content in place when it differs: the file is
// bind-mounted into running containers, which would keep seeing an old
// inode that a rename replaced.
func writeFile(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	return os.WriteFile(path, data, 0o644)
}

// withEtcMounts adds the managed files to a container's mounts, but for
// those it mounts a volume at, as upstream does.
func withEtcMounts(mounts, etc []sandbox.Mount) []sandbox.Mount {
	out := append([]sandbox.Mount{}, mounts...)
next:
	for _, e := range etc {
		for _, m := range mounts {
			if filepath.Clean(m.Destination) == e.Destination {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}
