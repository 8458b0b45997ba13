package proxy

import (
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
)

// KernelConntrack deletes conntrack entries through netlink.
type KernelConntrack struct {
	h *netlink.Handle
}

var _ Conntrack = (*KernelConntrack)(nil)

// NewKernelConntrack uses h (nil = the caller's network namespace).
func NewKernelConntrack(h *netlink.Handle) *KernelConntrack {
	if h == nil {
		h = &netlink.Handle{}
	}
	return &KernelConntrack{h: h}
}

// FlushUDP deletes, in one pass over each family's table, the flows sent to a virtual server and
// answered by one of its stale real servers.
func (c *KernelConntrack) FlushUDP(stale []StaleEndpoint) error {
	byFamily := map[netlink.InetFamily][]netlink.CustomConntrackFilter{}
	for _, s := range stale {
		f := &netlink.ConntrackFilter{}
		if err := f.AddProtocol(syscall.IPPROTO_UDP); err != nil {
			return err
		}
		if err := f.AddIP(netlink.ConntrackOrigDstIP, net.IP(s.VirtualServer.Address.AsSlice())); err != nil {
			return err
		}
		if err := f.AddPort(netlink.ConntrackOrigDstPort, s.VirtualServer.Port); err != nil {
			return err
		}
		if err := f.AddIP(netlink.ConntrackReplySrcIP, net.IP(s.RealServer.Address.AsSlice())); err != nil {
			return err
		}
		fam := netlink.InetFamily(syscall.AF_INET)
		if s.VirtualServer.Address.Is6() {
			fam = syscall.AF_INET6
		}
		byFamily[fam] = append(byFamily[fam], f)
	}
	for fam, filters := range byFamily {
		if _, err := c.h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, filters...); err != nil {
			return fmt.Errorf("flush stale udp conntrack entries: %w", err)
		}
	}
	return nil
}
