//go:build vm && integration

package proxy_test

import (
	"net"
	"net/netip"
	"sort"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
)

// TestKernelConntrackFlushUDP checks that flushing a stale UDP endpoint deletes exactly the flows
// to that virtual server answered by that real server.
func TestKernelConntrackFlushUDP(t *testing.T) {
	requireIPVS(t)
	ns := newNetns(t)
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	flow := func(client, vip string, vport uint16, backend string, proto uint8) *netlink.ConntrackFlow {
		return &netlink.ConntrackFlow{
			FamilyType: syscall.AF_INET,
			Forward: netlink.IPTuple{SrcIP: net.ParseIP(client).To4(), DstIP: net.ParseIP(vip).To4(), SrcPort: 40000,
				DstPort: vport, Protocol: proto},
			Reverse: netlink.IPTuple{SrcIP: net.ParseIP(backend).To4(), DstIP: net.ParseIP(client).To4(), SrcPort: 5353,
				DstPort: 40000, Protocol: proto},
			TimeOut: 120,
		}
	}
	for _, f := range []*netlink.ConntrackFlow{
		flow("10.0.0.1", "10.96.0.53", 53, "10.244.0.2", syscall.IPPROTO_UDP), // stale: goes
		flow("10.0.0.2", "10.96.0.53", 53, "10.244.0.3", syscall.IPPROTO_UDP), // other backend: stays
		flow("10.0.0.3", "10.96.0.54", 53, "10.244.0.2", syscall.IPPROTO_UDP), // other Service: stays
	} {
		if err := h.ConntrackCreate(netlink.ConntrackTable, netlink.FAMILY_V4, f); err != nil {
			t.Fatalf("create conntrack flow: %v", err)
		}
	}
	list := func() []*netlink.ConntrackFlow {
		t.Helper()
		flows, err := h.ConntrackTableList(netlink.ConntrackTable, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		return flows
	}
	if before := list(); len(before) != 3 {
		t.Fatalf("%d flows before the flush, want 3: %v", len(before), before)
	}
	c := proxy.NewKernelConntrack(h)
	err = c.FlushUDP([]proxy.StaleEndpoint{{
		VirtualServer: proxy.VSKey{Address: netip.MustParseAddr("10.96.0.53"), Port: 53, Protocol: proxy.UDP},
		RealServer:    proxy.RSKey{Address: netip.MustParseAddr("10.244.0.2"), Port: 5353},
	}})
	if err != nil {
		t.Fatalf("FlushUDP: %v", err)
	}
	var left []string
	for _, f := range list() {
		left = append(left, f.Forward.SrcIP.String())
	}
	sort.Strings(left)
	if want := []string{"10.0.0.2", "10.0.0.3"}; !equalStrings(left, want) {
		t.Errorf("flows left from clients %v, want %v (%v)", left, want, list())
	}
}
