package network

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// ErrHostPortConflict is returned (wrapped) by Setup when a port mapping asks for a host port
// that another pod on the node already has. The portmap plugin does not detect it: it would add
// a second DNAT rule that never matches, so the check is done here, before ADD.
var ErrHostPortConflict = errors.New("host port conflict")

// PortMapping is one hostPort of a pod, in the form of the CNI "portMappings" capability.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"` // tcp, udp or sctp; empty means tcp
	HostIP        string `json:"hostIP,omitempty"`
}

// holder is a pod that holds host ports.
type holder struct {
	id    string // CNI container ID
	pod   string // namespace/name, for the message
	ports []PortMapping
}

// normalize returns the mappings that reserve a host port, with the protocol in lower case
// (tcp when empty), as the plugin gets them.
func normalize(ports []PortMapping) []PortMapping {
	var out []PortMapping
	for _, p := range ports {
		if p.HostPort <= 0 {
			continue
		}
		p.Protocol = strings.ToLower(p.Protocol)
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		out = append(out, p)
	}
	return out
}

// overlap tells whether two host IPs share an address: equal, or either of them unspecified
// (all addresses).
func overlap(a, b string) bool {
	if a == "" || b == "" {
		return true
	}
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.IsUnspecified() || pb.IsUnspecified() || pa.Unmap() == pb.Unmap()
}

// portConflict returns an error wrapping ErrHostPortConflict for the first of want's mappings
// that another holder (not self) has on the same protocol and an overlapping host IP, or nil.
// Holders are looked at in ID order so that the message is stable.
func portConflict(self string, want []PortMapping, holders []holder) error {
	want = normalize(want)
	if len(want) == 0 {
		return nil
	}
	sort.Slice(holders, func(i, j int) bool { return holders[i].id < holders[j].id })
	for _, w := range want {
		for _, h := range holders {
			if h.id == self {
				continue
			}
			for _, p := range normalize(h.ports) {
				if p.HostPort == w.HostPort && p.Protocol == w.Protocol && overlap(p.HostIP, w.HostIP) {
					return fmt.Errorf("%w: host port %s is already used by pod %s", ErrHostPortConflict, portString(w), h.pod)
				}
			}
		}
	}
	return nil
}

func portString(p PortMapping) string {
	s := fmt.Sprintf("%d/%s", p.HostPort, p.Protocol)
	if p.HostIP != "" {
		s = p.HostIP + ":" + s
	}
	return s
}
