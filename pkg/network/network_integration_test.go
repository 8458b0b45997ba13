//go:build integration

package network

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/vishvananda/netlink"
)

const testPodCIDR = "10.244.99.0/24"

var testGateway = netip.MustParseAddr("10.244.99.1") // host-local's default: the range's first

// node is a node of the test's own: a network namespace standing for the node's, the CNI
// dirs under a temp dir, and a Manager that runs the plugins in that namespace.
type node struct {
	cfg   Config
	m     *Manager
	dir   string
	netns string
	ipam  string // host-local's dir for the default network
	nsDir string
}

func newNode(t *testing.T) *node {
	t.Helper()
	bin := os.Getenv("KL_CNI_BIN")
	if bin == "" {
		t.Fatal("KL_CNI_BIN is not set: build the CNI plugins with hack/cni.sh and run the test with " +
			"KL_CNI_BIN=$(hack/cni.sh --print-bin)")
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			t.Fatalf("KL_CNI_BIN=%s has no %s plugin (run hack/cni.sh): %v", bin, p, err)
		}
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("the bridge's masquerade and portmap need the nft command: install nftables (hack/deps.sh)")
	}
	guardRootNetNS(t)
	dir := t.TempDir()
	n := &node{dir: dir, nsDir: filepath.Join(dir, "netns"), ipam: filepath.Join(dir, "ipam", DefaultNetworkName)}
	if err := os.Mkdir(n.nsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	n.netns = newNetNS(t, n.nsDir, "node")
	n.cfg = Config{
		ConfDir:     filepath.Join(dir, "net.d"),
		BinDirs:     []string{bin},
		CacheDir:    filepath.Join(dir, "cache"),
		IPAMDataDir: filepath.Join(dir, "ipam"),
		Exec:        nodeExec{DefaultExec: &invoke.DefaultExec{RawExec: &invoke.RawExec{}}, netns: n.netns},
	}
	n.m = n.restart(t)
	return n
}

// restart returns a new Manager on the same dirs, as the agent has after a restart.
func (n *node) restart(t *testing.T) *Manager {
	t.Helper()
	m, err := New(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pod returns a pod with a new network namespace.
func (n *node) pod(t *testing.T, name string, ports ...PortMapping) Pod {
	t.Helper()
	return Pod{
		ID: "uid-" + name, Namespace: "test", Name: name, UID: "uid-" + name,
		NetNS: newNetNS(t, n.nsDir, name), PortMappings: ports,
	}
}

// allocated returns host-local's allocations: IP → container ID.
func (n *node) allocated(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(n.ipam)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err != nil {
			continue // lock, last_reserved_ip.0
		}
		b, err := os.ReadFile(filepath.Join(n.ipam, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// The file holds the container ID and the interface, a line each.
		out[e.Name()] = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	return out
}

// cached returns the files in libcni's results cache.
func (n *node) cached(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(n.cfg.CacheDir, "results"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func setup(t *testing.T, m *Manager, pod Pod) netip.Addr {
	t.Helper()
	t0 := time.Now()
	res, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatalf("Setup %s: %v", pod, err)
	}
	t.Logf("Setup %s: %v in %s", pod, res.IPs, time.Since(t0).Round(time.Millisecond))
	if len(res.IPs) != 1 {
		t.Fatalf("Setup %s: IPs %v, want one", pod, res.IPs)
	}
	return res.IPs[0]
}

func teardown(t *testing.T, m *Manager, pod Pod) {
	t.Helper()
	t0 := time.Now()
	if err := m.Teardown(context.Background(), pod); err != nil {
		t.Fatalf("Teardown %s: %v", pod, err)
	}
	t.Logf("Teardown %s in %s", pod, time.Since(t0).Round(time.Millisecond))
}

func hostPort(addr netip.Addr, port int) string {
	return net.JoinHostPort(addr.String(), strconv.Itoa(port))
}

// TestPodNetwork runs the whole CNI flow of a node: the default config, ADD and DEL for pods,
// traffic between them and to the node, idempotence, hostPorts, and a restart of the agent.
func TestPodNetwork(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	top := t // servers that later subtests use too live as long as the test
	prefix := netip.MustParsePrefix(testPodCIDR)

	wrote, err := n.m.EnsureDefaultConfig(testPodCIDR)
	if err != nil || !wrote {
		t.Fatalf("EnsureDefaultConfig = %v, %v", wrote, err)
	}
	if err := n.m.Status(ctx); err != nil {
		t.Fatalf("Status: %v", err)
	}

	a, b := n.pod(t, "a"), n.pod(t, "b")
	ipA, ipB := setup(t, n.m, a), setup(t, n.m, b)

	t.Run("two pods get distinct IPs from the range", func(t *testing.T) {
		if ipA == ipB || !prefix.Contains(ipA) || !prefix.Contains(ipB) || ipA == testGateway || ipB == testGateway {
			t.Fatalf("IPs %s and %s; want two distinct addresses in %s other than the gateway", ipA, ipB, prefix)
		}
		want := map[string]string{ipA.String(): a.ID, ipB.String(): b.ID}
		if got := n.allocated(t); !maps.Equal(got, want) {
			t.Errorf("host-local allocations %v, want %v", got, want)
		}
		if got, err := n.m.IPs(a.ID); err != nil || !slices.Equal(got, []netip.Addr{ipA}) {
			t.Errorf("IPs(a) = %v, %v; want [%s]", got, err, ipA)
		}
		// The node side has the bridge with the gateway address; the pod its eth0 with its IP.
		if err := inNetNS(n.netns, func() error { return hasAddr(DefaultBridge, testGateway) }); err != nil {
			t.Errorf("node netns: %v", err)
		}
		if err := inNetNS(a.NetNS, func() error { return hasAddr("eth0", ipA) }); err != nil {
			t.Errorf("pod a netns: %v", err)
		}
	})

	t.Run("pods reach each other over TCP and UDP", func(t *testing.T) {
		serveTCP(top, a.NetNS, hostPort(ipA, 8080))
		if got, err := tcpFrom(b.NetNS, hostPort(ipA, 8080)); err != nil || got != ipB.String() {
			t.Errorf("TCP b → a: server saw %q, %v; want %s (no masquerade inside the pod range)", got, err, ipB)
		}
		if got, err := udpRoundTrip(t, b.NetNS, a.NetNS, hostPort(ipB, 5353)); err != nil || got != ipA.String() {
			t.Errorf("UDP a → b: server saw %q, %v; want %s", got, err, ipA)
		}
	})

	t.Run("a pod reaches the node", func(t *testing.T) {
		serveTCP(t, n.netns, hostPort(testGateway, 10250))
		if got, err := tcpFrom(a.NetNS, hostPort(testGateway, 10250)); err != nil || got != ipA.String() {
			t.Errorf("TCP a → node %s: server saw %q, %v; want %s", testGateway, got, err, ipA)
		}
	})

	t.Run("ADD twice is idempotent", func(t *testing.T) {
		before := n.allocated(t)
		if again := setup(t, n.m, a); again != ipA {
			t.Errorf("second Setup of a gave %s, want %s", again, ipA)
		}
		if got := n.allocated(t); !maps.Equal(got, before) {
			t.Errorf("host-local allocations changed from %v to %v", before, got)
		}
		if got, err := tcpFrom(b.NetNS, hostPort(ipA, 8080)); err != nil || got != ipB.String() {
			t.Errorf("TCP b → a after the second Setup: %q, %v", got, err)
		}
	})

	web := n.pod(t, "web", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "TCP"})
	ipWeb := setup(t, n.m, web)

	t.Run("hostPort reaches the pod through the node's address", func(t *testing.T) {
		serveTCP(top, web.NetNS, hostPort(ipWeb, 80))
		// From another pod to the node's address (cni0's) on the host port: portmap's DNAT.
		if got, err := tcpFrom(b.NetNS, hostPort(testGateway, 8080)); err != nil || got != ipB.String() {
			t.Errorf("TCP b → node:8080 → web:80: server saw %q, %v; want %s", got, err, ipB)
		}
	})

	outside := n.outside(t)
	t.Run("hostPort reaches the pod from outside the node", func(t *testing.T) {
		if got, err := tcpFrom(outside, hostPort(nodeUplink, 8080)); err != nil || got != outsideAddr.String() {
			t.Errorf("TCP outside → node %s:8080 → web:80: server saw %q, %v; want %s", nodeUplink, got, err, outsideAddr)
		}
	})

	t.Run("pods reach outside the node masqueraded", func(t *testing.T) {
		serveTCP(t, outside, hostPort(outsideAddr, 8000))
		if got, err := tcpFrom(b.NetNS, hostPort(outsideAddr, 8000)); err != nil || got != nodeUplink.String() {
			t.Errorf("TCP b → outside: server saw %q, %v; want the node's %s (ipMasq)", got, err, nodeUplink)
		}
		if got, err := udpRoundTrip(t, outside, b.NetNS, hostPort(outsideAddr, 5353)); err != nil || got != nodeUplink.String() {
			t.Errorf("UDP b → outside: server saw %q, %v; want the node's %s (ipMasq)", got, err, nodeUplink)
		}
	})

	t.Run("a second pod on the same hostPort fails clearly", func(t *testing.T) {
		other := n.pod(t, "other", PortMapping{HostPort: 8080, ContainerPort: 8080})
		_, err := n.m.Setup(ctx, other)
		if !errors.Is(err, ErrHostPortConflict) || !strings.Contains(err.Error(), "8080/tcp is already used by pod test/web") {
			t.Fatalf("Setup of a second pod on host port 8080 = %v; want a host port conflict naming test/web", err)
		}
		t.Logf("conflict: %v", err)
		for ip, id := range n.allocated(t) {
			if id == other.ID {
				t.Errorf("the refused pod holds %s", ip)
			}
		}
		// Another protocol on the same port is no conflict.
		udp := n.pod(t, "udp", PortMapping{HostPort: 8080, ContainerPort: 8080, Protocol: "UDP"})
		setup(t, n.m, udp)
		teardown(t, n.m, udp)
	})

	t.Run("a half set up sandbox is deleted and added again", func(t *testing.T) {
		// An ADD cut short before libcni wrote its cache: the pod has eth0 and an IP, the
		// cache has nothing.
		half := n.pod(t, "half")
		setup(t, n.m, half)
		if err := os.Remove(filepath.Join(n.cfg.CacheDir, "results", DefaultNetworkName+"-"+half.ID+"-eth0")); err != nil {
			t.Fatal(err)
		}
		ip := setup(t, n.m, half)
		if owners := idsOf(n.allocated(t), half.ID); len(owners) != 1 || owners[0] != ip.String() {
			t.Errorf("half holds %v after Setup, want only %s", owners, ip)
		}
		// A sandbox whose eth0 went (CHECK fails): Setup makes it again.
		if err := inNetNS(half.NetNS, func() error {
			l, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			return netlink.LinkDel(l)
		}); err != nil {
			t.Fatal(err)
		}
		ip = setup(t, n.m, half)
		if err := inNetNS(half.NetNS, func() error { return hasAddr("eth0", ip) }); err != nil {
			t.Errorf("after CHECK failed and Setup again: %v", err)
		}
		if owners := idsOf(n.allocated(t), half.ID); len(owners) != 1 {
			t.Errorf("half holds %v, want one IP", owners)
		}
		teardown(t, n.m, half)
	})

	t.Run("a sandbox made again in a new netns moves there", func(t *testing.T) {
		moved := n.pod(t, "moved")
		old := moved.NetNS
		oldIP := setup(t, n.m, moved)
		moved.NetNS = newNetNS(t, n.nsDir, "moved-again")
		ip := setup(t, n.m, moved)
		if owners := idsOf(n.allocated(t), moved.ID); len(owners) != 1 || owners[0] != ip.String() {
			t.Errorf("moved holds %v, want only %s (it had %s)", owners, ip, oldIP)
		}
		if err := inNetNS(old, func() error {
			if _, err := netlink.LinkByName("eth0"); err == nil {
				return errors.New("eth0 is still there")
			}
			return nil
		}); err != nil {
			t.Errorf("the old netns: %v", err)
		}
		if got, err := tcpFrom(moved.NetNS, hostPort(ipWeb, 80)); err != nil || got != ip.String() {
			t.Errorf("TCP moved → web from the new netns: %q, %v", got, err)
		}
		teardown(t, n.m, moved)
	})

	t.Run("the agent's own netns is refused", func(t *testing.T) {
		// A stale /proc/PID/ns/net could name it; bridge would then take the node's eth0.
		self := filepath.Join(n.nsDir, "self")
		if err := PinNetNS(threadNetNS, self); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeNetNS(t, self) })
		pod := Pod{ID: "uid-self", Namespace: "test", Name: "self", NetNS: self}
		if _, err := n.m.Setup(ctx, pod); err == nil || !strings.Contains(err.Error(), "agent's own") {
			t.Errorf("Setup in the agent's own netns = %v, want a refusal", err)
		}
		if _, err := n.m.Setup(ctx, Pod{ID: "uid-proc", NetNS: "/proc/self/ns/net"}); err == nil || !strings.Contains(err.Error(), "PinNetNS") {
			t.Errorf("Setup with a /proc netns = %v, want a refusal", err)
		}
		before, _ := net.Interfaces()
		teardown(t, n.m, pod) // DEL goes to the placeholder, never to the agent's netns
		if after, _ := net.Interfaces(); len(after) != len(before) {
			t.Errorf("the agent's netns had %d links before Teardown, %d after", len(before), len(after))
		}
	})

	t.Run("DEL for a deleted netns", func(t *testing.T) {
		gone := n.pod(t, "gone")
		ip := setup(t, n.m, gone)
		removeNetNS(t, gone.NetNS)
		teardown(t, n.m, gone)
		if id, ok := n.allocated(t)[ip.String()]; ok {
			t.Errorf("%s still allocated to %s after DEL", ip, id)
		}
		teardown(t, n.m, gone) // again: nothing left, still success
		if rules := n.ruleset(t); strings.Contains(rules, gone.ID) {
			t.Errorf("the node's nftables still name %s after DEL:\n%s", gone.ID, rules)
		}
		if got, err := n.m.IPs(gone.ID); err != nil || got != nil {
			t.Errorf("IPs(gone) = %v, %v; want none", got, err)
		}
	})

	t.Run("after a restart", func(t *testing.T) {
		m2 := n.restart(t)
		if got, err := m2.IPs(b.ID); err != nil || !slices.Equal(got, []netip.Addr{ipB}) {
			t.Errorf("IPs(b) after restart = %v, %v; want [%s]", got, err, ipB)
		}
		if again := setup(t, m2, b); again != ipB {
			t.Errorf("Setup of b after restart gave %s, want %s", again, ipB)
		}
		if _, err := m2.Setup(ctx, n.pod(t, "other2", PortMapping{HostPort: 8080, ContainerPort: 1})); !errors.Is(err, ErrHostPortConflict) {
			t.Errorf("host port conflict after restart: Setup = %v, want ErrHostPortConflict", err)
		}
		teardown(t, m2, a)
		if err := inNetNS(a.NetNS, func() error {
			if _, err := netlink.LinkByName("eth0"); err == nil {
				return errors.New("eth0 is still there")
			}
			return nil
		}); err != nil {
			t.Errorf("pod a after DEL: %v", err)
		}
		if _, ok := n.allocated(t)[ipA.String()]; ok {
			t.Errorf("%s still allocated after DEL", ipA)
		}
		c := n.pod(t, "c")
		ipC := setup(t, m2, c)
		seen := map[string]int{}
		for ip := range n.allocated(t) {
			seen[ip]++
		}
		if ipC == ipB || ipC == ipWeb || len(seen) != 3 {
			t.Errorf("after restart: c got %s with b %s and web %s; allocations %v", ipC, ipB, ipWeb, n.allocated(t))
		}
		if got, err := tcpFrom(c.NetNS, hostPort(ipWeb, 80)); err != nil || got != ipC.String() {
			t.Errorf("TCP c → web: %q, %v", got, err)
		}
		teardown(t, m2, c)
	})

	t.Run("GC deletes what no sandbox holds", func(t *testing.T) {
		m3 := n.restart(t)
		if err := m3.GC(ctx, []string{web.ID}); err != nil {
			t.Fatalf("GC: %v", err)
		}
		want := map[string]string{ipWeb.String(): web.ID}
		if got := n.allocated(t); !maps.Equal(got, want) {
			t.Errorf("allocations after GC %v, want %v", got, want)
		}
		teardown(t, m3, web)
		teardown(t, m3, b) // gone through GC already: still success
	})

	if got := n.allocated(t); len(got) != 0 {
		t.Errorf("allocations left at the end: %v", got)
	}
	if got := n.cached(t); len(got) != 0 {
		t.Errorf("cache entries left at the end: %v", got)
	}
	// The plugins' netfilter state (bridge's masquerade, portmap's DNAT) names the container
	// IDs; none may be left once every pod is gone.
	rules := n.ruleset(t)
	for _, name := range []string{"a", "b", "web", "udp", "half", "moved", "gone", "c"} {
		if strings.Contains(rules, "uid-"+name) {
			t.Errorf("the node's nftables still name uid-%s at the end:\n%s", name, rules)
		}
	}
}

// ruleset returns the node namespace's nftables ruleset.
func (n *node) ruleset(t *testing.T) string {
	t.Helper()
	var out []byte
	err := inNetNS(n.netns, func() (err error) {
		out, err = exec.Command("nft", "list", "ruleset").CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("nft list ruleset in the node netns: %v: %s", err, out)
	}
	return string(out)
}

// The node's uplink to "outside": a veth pair between the node's netns and another, standing
// for the node's network (documentation addresses, and only inside the test's namespaces).
var (
	nodeUplink  = netip.MustParseAddr("198.51.100.1")
	outsideAddr = netip.MustParseAddr("198.51.100.2")
)

// outside returns a new netns linked to the node's by a veth pair.
func (n *node) outside(t *testing.T) string {
	t.Helper()
	path := newNetNS(t, n.nsDir, "outside")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := func(link netlink.Link, ip netip.Addr) error {
		a, err := netlink.ParseAddr(ip.String() + "/30")
		if err == nil {
			err = netlink.AddrAdd(link, a)
		}
		if err == nil {
			err = netlink.LinkSetUp(link)
		}
		return err
	}
	err = inNetNS(n.netns, func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(f.Fd()))}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		return addr(veth, nodeUplink)
	})
	if err == nil {
		err = inNetNS(path, func() error {
			l, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			return addr(l, outsideAddr)
		})
	}
	if err != nil {
		t.Fatalf("link the outside netns to the node's: %v", err)
	}
	return path
}

func idsOf(alloc map[string]string, id string) []string {
	var ips []string
	for ip, owner := range alloc {
		if owner == id {
			ips = append(ips, ip)
		}
	}
	return ips
}

// TestPodNetworkConcurrent sets up pods at once, as pod workers do: each gets its own IP, and of
// two pods asking for one host port at the same time exactly one gets it.
func TestPodNetworkConcurrent(t *testing.T) {
	ctx := context.Background()
	n := newNode(t)
	if _, err := n.m.EnsureDefaultConfig(testPodCIDR); err != nil {
		t.Fatal(err)
	}
	const pods = 8
	var ps []Pod
	for i := range pods {
		var ports []PortMapping
		if i < 2 {
			ports = []PortMapping{{HostPort: 9090, ContainerPort: 80}}
		}
		ps = append(ps, n.pod(t, "p"+strconv.Itoa(i), ports...))
	}
	type outcome struct {
		ip  netip.Addr
		err error
	}
	out := make([]outcome, pods)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, p := range ps {
		wg.Go(func() {
			res, err := n.m.Setup(ctx, p)
			if err == nil {
				out[i].ip = res.IPs[0]
			}
			out[i].err = err
		})
	}
	wg.Wait()
	t.Logf("%d concurrent Setups in %s", pods, time.Since(t0).Round(time.Millisecond))

	if (out[0].err == nil) == (out[1].err == nil) {
		t.Errorf("two pods on host port 9090 at once: errors %v and %v; want exactly one conflict", out[0].err, out[1].err)
	}
	for _, o := range out[:2] {
		if o.err != nil && !errors.Is(o.err, ErrHostPortConflict) {
			t.Errorf("the refused pod's error %v is no ErrHostPortConflict", o.err)
		}
	}
	seen := map[netip.Addr]string{}
	for i, o := range out[2:] {
		if o.err != nil {
			t.Errorf("Setup %s: %v", ps[i+2], o.err)
			continue
		}
		if other, dup := seen[o.ip]; dup {
			t.Errorf("%s handed out to %s and %s", o.ip, other, ps[i+2])
		}
		seen[o.ip] = ps[i+2].ID
	}
	alloc := n.allocated(t)
	if len(alloc) != pods-1 {
		t.Errorf("host-local holds %d IPs, want %d: %v", len(alloc), pods-1, alloc)
	}

	t0 = time.Now()
	for _, p := range ps {
		wg.Go(func() {
			if err := n.m.Teardown(ctx, p); err != nil {
				t.Errorf("Teardown %s: %v", p, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d concurrent Teardowns in %s", pods, time.Since(t0).Round(time.Millisecond))
	if got := n.allocated(t); len(got) != 0 {
		t.Errorf("allocations left: %v", got)
	}
}
