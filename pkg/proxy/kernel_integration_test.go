//go:build vm && integration

// Real-kernel tests: run them in the node VM (hack/proxy-vmtest.sh). They fail, loudly, on a
// kernel without ip_vs. Everything they program lives in network namespaces they create, except
// TestKernelSysctls, which needs the VM (KL_NODEVM=1) because it writes the root namespace's
// sysctls.
package proxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
)

func requireIPVS(t testing.TB) {
	t.Helper()
	if err := proxy.Available(); err != nil {
		t.Fatalf("this test needs a kernel with ip_vs; run it in the node VM (hack/proxy-vmtest.sh): %v", err)
	}
}

// node is a network namespace the test made, with the proxy's kernel parts opened in it.
type node struct {
	ns    netns.NsHandle
	nl    *netlink.Handle
	ipvs  *proxy.KernelIPVS
	addrs *proxy.Dummy
}

func newNode(t testing.TB) *node {
	t.Helper()
	requireIPVS(t)
	ns := newNetns(t)
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	ipvs, err := proxy.NewKernelIPVS(nsPath(ns))
	if err != nil {
		t.Fatalf("open ipvs: %v", err)
	}
	t.Cleanup(ipvs.Close)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return &node{ns: ns, nl: h, ipvs: ipvs, addrs: proxy.NewDummy("", h)}
}

func nsPath(ns netns.NsHandle) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)) }

// dumpKernel renders the kernel's table like proxytest.IPVS.Dump.
func dumpKernel(t *testing.T, ipvs proxy.IPVS) []string {
	t.Helper()
	vss, err := ipvs.VirtualServers()
	if err != nil {
		t.Fatalf("list virtual servers: %v", err)
	}
	sort.Slice(vss, func(i, j int) bool { return vss[i].Key().String() < vss[j].Key().String() })
	var out []string
	for _, v := range vss {
		line := fmt.Sprintf("%s %s", v.Key(), v.Scheduler)
		if v.Persistent {
			line += fmt.Sprintf(" persistent=%d", v.Timeout)
		}
		out = append(out, line)
		rss, err := ipvs.RealServers(v.Key())
		if err != nil {
			t.Fatalf("list real servers: %v", err)
		}
		var lines []string
		for _, r := range rss {
			lines = append(lines, fmt.Sprintf("  %s w=%d", r.Key(), r.Weight))
		}
		sort.Strings(lines)
		out = append(out, lines...)
	}
	return out
}

func dumpAddrs(t testing.TB, a proxy.Addresses) []string {
	t.Helper()
	ips, err := a.List()
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	sort.Strings(out)
	return out
}

func (n *node) expect(t *testing.T, what string, want, wantAddrs []string) time.Duration {
	t.Helper()
	return eventually(t, 60*time.Second, what, func() string {
		if d := diff(dumpKernel(t, n.ipvs), want); d != "" {
			return d
		}
		return diff(dumpAddrs(t, n.addrs), wantAddrs)
	})
}

func TestKernelProxierFollowsServicesAndSlices(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	client := fake.NewClientset()
	startProxier(t, client, n.ipvs, n.addrs, proxy.Config{NodeIPs: []netip.Addr{netip.MustParseAddr("192.168.77.1")}})

	svc := webService("10.96.0.10")
	svc.Spec.Type = v1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = 30080
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, webSlice(backendIPs(3)...), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web := func(vsSuffix string, ips ...string) []string {
		return append(webDump("10.96.0.10:80/TCP rr"+vsSuffix, ips...), webDump("192.168.77.1:30080/TCP rr"+vsSuffix, ips...)...)
	}
	took := n.expect(t, "3 endpoints", web("", backendIPs(3)...), []string{"10.96.0.10"})
	t.Logf("Service with 3 endpoints in the kernel %v after its creation", took)

	link, err := n.nl.LinkByName(proxy.DummyDevice)
	if err != nil {
		t.Fatalf("no %s link: %v", proxy.DummyDevice, err)
	}
	if link.Type() != "dummy" {
		t.Errorf("%s is a %s link, want dummy", proxy.DummyDevice, link.Type())
	}

	for _, c := range []int{5, 1} {
		sl.Endpoints = webSlice(backendIPs(c)...).Endpoints
		if sl, err = client.DiscoveryV1().EndpointSlices("default").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		took := n.expect(t, fmt.Sprintf("scaled to %d", c), web("", backendIPs(c)...), []string{"10.96.0.10"})
		t.Logf("scale to %d endpoints in the kernel %v after the EndpointSlice update", c, took)
	}

	svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](100)}}
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "ClientIP affinity", web(" persistent=100", backendIPs(1)...), []string{"10.96.0.10"})

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took = n.expect(t, "Service deleted", nil, nil)
	t.Logf("deleted Service gone from the kernel %v after the delete", took)
}

func TestKernelProxierAdoptsAndRemovesEarlierState(t *testing.T) {
	n := newNode(t)
	// An earlier run left the wanted Service with a stale real server, an unwanted Service and its
	// VIP.
	mustOK(t, n.addrs.Ensure())
	mustOK(t, n.addrs.Add(netip.MustParseAddr("10.96.0.10")))
	mustOK(t, n.addrs.Add(netip.MustParseAddr("10.96.0.99")))
	for _, d := range []*proxy.Desired{
		vs("10.96.0.10:80/TCP", nil, "10.244.0.1:8080=1", "10.244.0.9:8080=1"),
		vs("10.96.0.99:443/UDP", nil, "10.244.0.8:443=1"),
	} {
		mustOK(t, n.ipvs.AddVirtualServer(d.VirtualServer))
		for _, r := range d.RealServers {
			mustOK(t, n.ipvs.AddRealServer(d.Key(), r))
		}
	}

	client := fake.NewClientset(webService("10.96.0.10"), webSlice(backendIPs(2)...))
	startProxier(t, client, n.ipvs, n.addrs, proxy.Config{})
	n.expect(t, "adopted", webDump("10.96.0.10:80/TCP rr", backendIPs(2)...), []string{"10.96.0.10"})
}

func TestKernelSysctls(t *testing.T) {
	requireIPVS(t)
	if os.Getenv("KL_NODEVM") != "1" {
		t.Fatalf("this test writes the root namespace's sysctls: run it in the node VM (hack/proxy-vmtest.sh)")
	}
	s := proxy.Sysctls{Root: "/proc/sys"}
	if err := s.EnsureIPVS(); err != nil {
		t.Fatalf("EnsureIPVS: %v", err)
	}
	for name, want := range map[string]string{
		"net/ipv4/vs/conntrack": "1", "net/ipv4/vs/expire_nodest_conn": "1", "net/ipv4/ip_forward": "1",
		"net/bridge/bridge-nf-call-iptables": "1", // br_netfilter is loaded in the VM
	} {
		if got, err := s.Get(name); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", name, got, err, want)
		}
	}
}

// TestKernelSyncScale programs N Services (KL_PROXY_SCALE, default 1000) with 3 endpoints each
// through the Syncer and reports the full-sync time and the time of a sync that changes one
// Service.
func TestKernelSyncScale(t *testing.T) {
	n := newNode(t)
	count := 1000
	if v := os.Getenv("KL_PROXY_SCALE"); v != "" {
		if _, err := fmt.Sscan(v, &count); err != nil {
			t.Fatalf("KL_PROXY_SCALE=%q: %v", v, err)
		}
	}
	svcs := scaleServices(count)
	slices := scaleSlices(svcs, 3)
	s := proxy.NewSyncer(n.ipvs, n.addrs)

	start := time.Now()
	st := proxy.Compute(svcs, slices, proxy.Options{})
	computed := time.Since(start)
	if _, err := s.Sync(st, false); err != nil {
		t.Fatalf("full sync: %v", err)
	}
	full := time.Since(start)

	slices[count/2].Endpoints = slices[count/2].Endpoints[:2]
	start = time.Now()
	stats, err := s.Sync(proxy.Compute(svcs, slices, proxy.Options{}), false)
	if err != nil {
		t.Fatalf("one-change sync: %v", err)
	}
	one := time.Since(start)
	if stats.RealServers != 1 || stats.VirtualServers != 0 {
		t.Errorf("one-change sync changed %d virtual and %d real servers, want 0 and 1", stats.VirtualServers, stats.RealServers)
	}

	start = time.Now()
	if _, err := s.Sync(proxy.Compute(svcs, slices, proxy.Options{}), true); err != nil {
		t.Fatalf("full resync: %v", err)
	}
	resync := time.Since(start)

	vss, err := n.ipvs.VirtualServers()
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := n.addrs.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(vss) != count || len(addrs) != count {
		t.Errorf("kernel holds %d virtual servers and %d addresses, want %d each", len(vss), len(addrs), count)
	}
	t.Logf("services=%d compute=%v first-full-sync=%v one-change-sync=%v full-resync-no-change=%v",
		count, computed, full, one, resync)
}

// TestKernelMasqueradeManyServices puts 10 000 Services into the masquerade set in one full sync,
// then replaces 3 000 of them in one incremental sync: more elements than one netlink attribute
// and than the default socket send buffer hold.
func TestKernelMasqueradeManyServices(t *testing.T) {
	n := newNode(t)
	keys := func(from, to int) map[proxy.VSKey]bool {
		out := map[proxy.VSKey]bool{}
		for i := from; i < to; i++ {
			out[proxy.VSKey{Address: netip.AddrFrom4([4]byte{10, byte(96 + i/65536), byte(i / 256), byte(i)}), Port: 80, Protocol: proxy.TCP}] = true
		}
		return out
	}
	m := proxy.NewNFTMasquerade(proxy.MasqueradeConfig{}, int(n.ns))
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	mustOK(t, err)
	// check compares the set with the Services from..to-1 by count and at both ends.
	check := func(what string, from, to int) {
		t.Helper()
		set, err := c.GetSetByName(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: proxy.NFTablesTable}, "services")
		mustOK(t, err)
		elems, err := c.GetSetElements(set)
		mustOK(t, err)
		got := map[string]bool{}
		for _, e := range elems {
			got[fmt.Sprint(e.Key[:4])] = true
		}
		ip := func(i int) string { return fmt.Sprint([]byte{10, byte(96 + i/65536), byte(i / 256), byte(i)}) }
		if len(got) != to-from || !got[ip(from)] || !got[ip(to-1)] || got[ip(to)] || from > 0 && got[ip(from-1)] {
			t.Errorf("%s: the set holds %d elements (%s: %v, %s: %v), want %d Services %d..%d", what, len(got),
				ip(from), got[ip(from)], ip(to-1), got[ip(to-1)], to-from, from, to-1)
		}
	}

	if err := m.Sync(keys(0, 10000), true); err != nil {
		t.Fatalf("full sync of 10000: %v", err)
	}
	check("after the full sync", 0, 10000)
	if err := m.Sync(keys(3000, 13000), false); err != nil {
		t.Fatalf("incremental sync replacing 3000: %v", err)
	}
	check("after the incremental sync", 3000, 13000)
}

// TestKernelRealServerTable checks the one-read table (/proc/net/ip_vs) against netlink's answer
// for each virtual server.
func TestKernelRealServerTable(t *testing.T) {
	n := newNode(t)
	for _, d := range []*proxy.Desired{
		vs("10.96.0.10:80/TCP", nil, "10.244.0.1:8080=1", "10.244.0.2:8080=0"),
		vs("10.96.0.53:53/UDP", persistent(600)),
		vs("10.96.0.60:3868/SCTP", nil, "10.244.1.1:3868=3"),
		vs("[fd00::10]:443/TCP", nil, "[fd00::1:1]:8443=1", "[fd00::1:2]:8443=2"),
	} {
		mustOK(t, n.ipvs.AddVirtualServer(d.VirtualServer))
		for _, r := range d.RealServers {
			mustOK(t, n.ipvs.AddRealServer(d.Key(), r))
		}
	}
	table, err := n.ipvs.RealServerTable()
	if err != nil {
		t.Fatalf("RealServerTable: %v", err)
	}
	vss, err := n.ipvs.VirtualServers()
	mustOK(t, err)
	render := func(rss []proxy.RealServer) []string {
		var out []string
		for _, r := range rss {
			out = append(out, fmt.Sprintf("%s w=%d", r.Key(), r.Weight))
		}
		sort.Strings(out)
		return out
	}
	if len(table) != len(vss) || len(vss) != 4 {
		t.Errorf("the table lists %d virtual servers, netlink %d, want 4", len(table), len(vss))
	}
	for _, v := range vss {
		want, err := n.ipvs.RealServers(v.Key())
		mustOK(t, err)
		got, ok := table[v.Key()]
		if !ok {
			t.Errorf("%s is not in the table", v.Key())
			continue
		}
		if d := diff(render(got), render(want)); d != "" {
			t.Errorf("%s: %s", v.Key(), d)
		}
	}
}

// TestKernelDummyRecreated: the Dummy remembers its device; when someone re-creates the device it
// finds the new one.
func TestKernelDummyRecreated(t *testing.T) {
	n := newNode(t)
	mustOK(t, n.addrs.Ensure())
	mustOK(t, n.addrs.Add(netip.MustParseAddr("10.96.0.10")))
	old, err := n.nl.LinkByName(proxy.DummyDevice)
	mustOK(t, err)
	mustOK(t, n.nl.LinkDel(old))
	mustOK(t, n.nl.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: proxy.DummyDevice}}))
	if err := n.addrs.Add(netip.MustParseAddr("10.96.0.11")); err != nil {
		t.Fatalf("add to the re-created device: %v", err)
	}
	if d := diff(dumpAddrs(t, n.addrs), []string{"10.96.0.11"}); d != "" {
		t.Errorf("addresses: %s", d)
	}
}
