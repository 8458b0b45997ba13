package proxy

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// NodeAddresses returns the addresses NodePorts are served on, as kube-proxy's IPVS mode does
// without --nodeport-addresses: every global unicast address of the node's links (h nil = the
// caller's network namespace) except those of the VIP device dummy ("" = DummyDevice). Loopback
// and link-local addresses are left out: IPVS cannot send their traffic on to a pod.
func NodeAddresses(h *netlink.Handle, dummy string) ([]netip.Addr, error) {
	if h == nil {
		h = &netlink.Handle{}
	}
	if dummy == "" {
		dummy = DummyDevice
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []netip.Addr
	for _, l := range links {
		if l.Attrs().Name == dummy {
			continue
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", l.Attrs().Name, err)
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if ok && a.IP.IsGlobalUnicast() {
				out = append(out, ip.Unmap())
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out), nil
}
