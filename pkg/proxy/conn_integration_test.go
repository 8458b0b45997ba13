//go:build vm && integration

package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
)

// addBackend makes backend i: a network namespace joined to the node by a veth pair (node side
// 10.250.i.1/24, backend side 10.250.i.2/24, its default route via the node) with a TCP server on
// :8080 that answers every connection with its name and the client address it sees,
// "backend-i 10.250.0.7". It returns the backend's address.
func (n *node) addBackend(t testing.TB, i int) string {
	t.Helper()
	bns := newNetns(t)
	bh, err := netlink.NewHandleAt(bns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bh.Close)
	nodeSide, backSide := fmt.Sprintf("vn%d", i), fmt.Sprintf("vb%d", i)
	la := netlink.NewLinkAttrs()
	la.Name = nodeSide
	if err := n.nl.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: backSide, PeerNamespace: netlink.NsFd(int(bns))}); err != nil {
		t.Fatalf("add veth %s: %v", nodeSide, err)
	}
	setup := func(h *netlink.Handle, name, cidr string) {
		t.Helper()
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("find %s: %v", name, err)
		}
		addr, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatal(err)
		}
		mustOK(t, h.AddrAdd(l, addr))
		mustOK(t, h.LinkSetUp(l))
	}
	setup(n.nl, nodeSide, fmt.Sprintf("10.250.%d.1/24", i))
	setup(bh, backSide, fmt.Sprintf("10.250.%d.2/24", i))
	lo, err := bh.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, bh.LinkSetUp(lo))
	mustOK(t, bh.RouteAdd(&netlink.Route{Gw: net.ParseIP(fmt.Sprintf("10.250.%d.1", i))}))

	var ln net.Listener
	mustOK(t, inNetns(bns, func() (err error) {
		ln, err = net.Listen("tcp4", ":8080")
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	name := fmt.Sprintf("backend-%d", i)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			remote, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintln(c, name, remote)
			c.Close()
		}
	}()
	return fmt.Sprintf("10.250.%d.2", i)
}

// ask connects from the namespace ns to addr and returns the backend's answer.
func ask(ns netns.NsHandle, addr string) (string, error) {
	answer, _, err := askTimed(ns, addr)
	return answer, err
}

// askTimed is ask that also returns how long the TCP connect took.
func askTimed(ns netns.NsHandle, addr string) (answer string, connect time.Duration, err error) {
	var c net.Conn
	if err := inNetns(ns, func() (err error) {
		start := time.Now()
		c, err = net.DialTimeout("tcp4", addr, 10*time.Second)
		connect = time.Since(start)
		return err
	}); err != nil {
		return "", 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return "", connect, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), connect, err
}

// spread connects count times and returns how many answers came from each backend.
func spread(t *testing.T, ns netns.NsHandle, addr string, count int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range count {
		answer, err := ask(ns, addr)
		if err != nil {
			t.Fatalf("connect to %s: %v", addr, err)
		}
		name, _, _ := strings.Cut(answer, " ")
		got[name]++
	}
	return got
}

func names(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestKernelConnections sends real TCP connections through the proxy's IPVS rules: from the
// node's namespace to a ClusterIP and a NodePort, over backends in their own namespaces.
func TestKernelConnections(t *testing.T) {
	n := newNode(t)
	var ips []string
	for i := 1; i <= 3; i++ {
		ips = append(ips, n.addBackend(t, i))
	}
	ctx := context.Background()
	svc := webService("10.96.0.10")
	svc.Spec.Type = v1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = 30080
	sl := webSlice(ips...)
	client := fake.NewClientset(svc, sl)
	startProxier(t, client, n.ipvs, n.addrs, proxy.Config{NodeIPs: []netip.Addr{netip.MustParseAddr("10.250.1.1")}})
	n.expect(t, "3 backends programmed", append(webDump("10.250.1.1:30080/TCP rr", ips...), webDump("10.96.0.10:80/TCP rr", ips...)...), []string{"10.96.0.10"})

	all := []string{"backend-1", "backend-2", "backend-3"}
	for _, addr := range []string{"10.96.0.10:80", "10.250.1.1:30080"} {
		got := spread(t, n.ns, addr, 30)
		t.Logf("30 connections to %s: %v", addr, got)
		if !equalStrings(names(got), all) {
			t.Errorf("connections to %s reached %v, want all of %v", addr, got, all)
		}
	}

	svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "affinity programmed", append(webDump("10.250.1.1:30080/TCP rr persistent=60", ips...), webDump("10.96.0.10:80/TCP rr persistent=60", ips...)...), []string{"10.96.0.10"})
	if got := spread(t, n.ns, "10.96.0.10:80", 15); len(got) != 1 {
		t.Errorf("with ClientIP affinity one client reached %v, want one backend", got)
	}

	svc.Spec.SessionAffinity, svc.Spec.SessionAffinityConfig = v1.ServiceAffinityNone, nil
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl.Endpoints = webSlice(ips[2]).Endpoints
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "scaled to backend 3", append(webDump("10.250.1.1:30080/TCP rr", ips[2]), webDump("10.96.0.10:80/TCP rr", ips[2])...), []string{"10.96.0.10"})
	if got := spread(t, n.ns, "10.96.0.10:80", 10); !equalStrings(names(got), []string{"backend-3"}) {
		t.Errorf("after scaling to backend 3, connections reached %v", got)
	}

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "Service deleted", nil, nil)
	if name, err := ask(n.ns, "10.96.0.10:80"); err == nil {
		t.Errorf("the deleted Service's VIP still answered, from %s", name)
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// addClient makes a namespace joined to the node by a veth pair, node side nodeCIDR, client side
// clientCIDR, the client's default route via the node. It returns the client's namespace.
func (n *node) addClient(t *testing.T, name, nodeCIDR, clientCIDR string) netns.NsHandle {
	t.Helper()
	cns := newNetns(t)
	ch, err := netlink.NewHandleAt(cns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ch.Close)
	la := netlink.NewLinkAttrs()
	la.Name = name
	if err := n.nl.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(cns))}); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	for _, x := range []struct {
		h          *netlink.Handle
		link, cidr string
	}{{n.nl, name, nodeCIDR}, {ch, "eth0", clientCIDR}} {
		l, err := x.h.LinkByName(x.link)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := netlink.ParseAddr(x.cidr)
		if err != nil {
			t.Fatal(err)
		}
		mustOK(t, x.h.AddrAdd(l, addr))
		mustOK(t, x.h.LinkSetUp(l))
	}
	lo, err := ch.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, ch.LinkSetUp(lo))
	gw, _, _ := strings.Cut(nodeCIDR, "/")
	mustOK(t, ch.RouteAdd(&netlink.Route{Gw: net.ParseIP(gw)}))
	return cns
}

// TestKernelMasquerade checks the nftables masquerade: traffic to a Service from outside the pod
// network (another host through a NodePort, the node itself to a ClusterIP) reaches the backend
// from the node's address; traffic from a pod keeps its source.
func TestKernelMasquerade(t *testing.T) {
	n := newNode(t)
	mustOK(t, inNetns(n.ns, func() error { return (&proxy.Sysctls{Root: "/proc/sys"}).EnsureIPVS() }))
	var ips []string
	for i := 1; i <= 2; i++ {
		ips = append(ips, n.addBackend(t, i))
	}
	external := n.addClient(t, "vx", "10.251.0.1/24", "10.251.0.2/24")
	pod := n.addClient(t, "vp", "10.250.9.1/24", "10.250.9.2/24")

	svc := webService("10.96.0.10")
	svc.Spec.Type = v1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = 30080
	client := fake.NewClientset(svc, webSlice(ips...))
	masq := proxy.NewNFTMasquerade(proxy.MasqueradeConfig{ClusterCIDR: netip.MustParsePrefix("10.250.0.0/16")}, int(n.ns))
	syncs := startProxier(t, client, n.ipvs, n.addrs, proxy.Config{
		NodeIPs:    []netip.Addr{netip.MustParseAddr("10.251.0.1")},
		Masquerade: masq,
	})
	syncs.waitOK(t) // IPVS is programmed before the masquerade set: wait for the whole sync
	n.expect(t, "programmed", append(webDump("10.251.0.1:30080/TCP rr", ips...), webDump("10.96.0.10:80/TCP rr", ips...)...), []string{"10.96.0.10"})

	for _, c := range []struct {
		what       string
		from       netns.NsHandle
		addr       string
		wantRemote map[string]string // backend → the source it should see
	}{
		{"external client to the NodePort", external, "10.251.0.1:30080",
			map[string]string{"backend-1": "10.250.1.1", "backend-2": "10.250.2.1"}},
		{"node to the ClusterIP", n.ns, "10.96.0.10:80",
			map[string]string{"backend-1": "10.250.1.1", "backend-2": "10.250.2.1"}},
		{"pod to the ClusterIP", pod, "10.96.0.10:80",
			map[string]string{"backend-1": "10.250.9.2", "backend-2": "10.250.9.2"}},
	} {
		for range 4 {
			answer, err := ask(c.from, c.addr)
			if err != nil {
				t.Fatalf("%s: connect: %v", c.what, err)
			}
			name, remote, _ := strings.Cut(answer, " ")
			if want := c.wantRemote[name]; remote != want {
				t.Errorf("%s: %s saw the client as %s, want %s", c.what, name, remote, want)
			}
		}
	}
}
