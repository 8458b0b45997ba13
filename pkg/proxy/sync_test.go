package proxy_test

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
	"github.com/kubelet-lite/kubelet-lite/pkg/proxy/proxytest"
)

// vs parses "10.96.0.10:80/TCP" and takes real servers as "10.244.0.1:8080=1" (address=weight).
func vs(spec string, opts func(*proxy.VirtualServer), rss ...string) *proxy.Desired {
	addrPort, proto, _ := strings.Cut(spec, "/")
	ap := netip.MustParseAddrPort(addrPort)
	d := &proxy.Desired{
		VirtualServer: proxy.VirtualServer{Address: ap.Addr(), Port: ap.Port(), Protocol: proxy.Protocol(proto), Scheduler: "rr"},
		RealServers:   map[proxy.RSKey]proxy.RealServer{},
	}
	if opts != nil {
		opts(&d.VirtualServer)
	}
	for _, r := range rss {
		a, w, _ := strings.Cut(r, "=")
		rap := netip.MustParseAddrPort(a)
		rs := proxy.RealServer{Address: rap.Addr(), Port: rap.Port(), Weight: map[string]int{"0": 0, "1": 1}[w]}
		d.RealServers[rs.Key()] = rs
	}
	return d
}

func state(addrs []string, ds ...*proxy.Desired) proxy.State {
	st := proxy.State{Services: map[proxy.VSKey]*proxy.Desired{}, Addresses: map[netip.Addr]bool{}}
	for _, d := range ds {
		st.Services[d.Key()] = d
	}
	for _, a := range addrs {
		st.Addresses[netip.MustParseAddr(a)] = true
	}
	return st
}

func persistent(timeout uint32) func(*proxy.VirtualServer) {
	return func(v *proxy.VirtualServer) { v.Persistent, v.Timeout = true, timeout }
}

type env struct {
	t     *testing.T
	ipvs  *proxytest.IPVS
	addrs *proxytest.Addresses
	s     *proxy.Syncer
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, ipvs: proxytest.NewIPVS(), addrs: proxytest.NewAddresses()}
	e.s = proxy.NewSyncer(e.ipvs, e.addrs)
	return e
}

func (e *env) sync(st proxy.State, full bool) proxy.SyncStats {
	e.t.Helper()
	stats, err := e.s.Sync(st, full)
	if err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	return stats
}

func (e *env) expect(ipvs, addrs []string) {
	e.t.Helper()
	if got := e.ipvs.Dump(); !reflect.DeepEqual(got, ipvs) {
		e.t.Errorf("ipvs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(ipvs, "\n"))
	}
	if got := e.addrs.Dump(); !reflect.DeepEqual(got, addrs) {
		e.t.Errorf("addresses %q, want %q", got, addrs)
	}
}

// expectNoWrites syncs st again (changed-only, then full) and checks nothing was written.
func (e *env) expectNoWrites(st proxy.State) {
	e.t.Helper()
	before, beforeA := e.ipvs.Writes, e.addrs.Writes
	e.sync(st, false)
	e.sync(st, true)
	if e.ipvs.Writes != before || e.addrs.Writes != beforeA {
		e.t.Errorf("a second sync wrote %d ipvs and %d address changes, want none",
			e.ipvs.Writes-before, e.addrs.Writes-beforeA)
	}
}

func TestSyncFromEmptyThenIdempotent(t *testing.T) {
	e := newEnv(t)
	st := state([]string{"10.96.0.10", "10.96.0.53"},
		vs("10.96.0.10:80/TCP", nil, "10.244.0.1:8080=1", "10.244.0.2:8080=1", "10.244.0.3:8080=1"),
		vs("10.96.0.53:53/UDP", persistent(60), "10.244.0.9:53=1"),
		vs("192.168.1.10:30080/TCP", nil, "10.244.0.1:8080=1"))
	stats := e.sync(st, false)
	if !stats.Full {
		t.Errorf("the first sync was not full")
	}
	e.expect([]string{
		"10.96.0.10:80/TCP rr",
		"  10.244.0.1:8080 w=1",
		"  10.244.0.2:8080 w=1",
		"  10.244.0.3:8080 w=1",
		"10.96.0.53:53/UDP rr persistent=60",
		"  10.244.0.9:53 w=1",
		"192.168.1.10:30080/TCP rr",
		"  10.244.0.1:8080 w=1",
	}, []string{"10.96.0.10", "10.96.0.53"})
	if !e.addrs.Created {
		t.Errorf("the dummy device was not ensured")
	}
	e.expectNoWrites(st)
}

func TestSyncScaleDrainAffinityDelete(t *testing.T) {
	e := newEnv(t)
	web := func(opts func(*proxy.VirtualServer), rss ...string) proxy.State {
		return state([]string{"10.96.0.10"}, vs("10.96.0.10:80/TCP", opts, rss...))
	}
	e.sync(web(nil, "10.244.0.1:80=1", "10.244.0.2:80=1", "10.244.0.3:80=1"), false)

	steps := []struct {
		name  string
		st    proxy.State
		want  []string
		addrs []string
	}{{
		name:  "scale to 5",
		st:    web(nil, "10.244.0.1:80=1", "10.244.0.2:80=1", "10.244.0.3:80=1", "10.244.0.4:80=1", "10.244.0.5:80=1"),
		want:  []string{"10.96.0.10:80/TCP rr", "  10.244.0.1:80 w=1", "  10.244.0.2:80 w=1", "  10.244.0.3:80 w=1", "  10.244.0.4:80 w=1", "  10.244.0.5:80 w=1"},
		addrs: []string{"10.96.0.10"},
	}, {
		name:  "two terminate: they drain at weight 0",
		st:    web(nil, "10.244.0.1:80=1", "10.244.0.2:80=1", "10.244.0.3:80=1", "10.244.0.4:80=0", "10.244.0.5:80=0"),
		want:  []string{"10.96.0.10:80/TCP rr", "  10.244.0.1:80 w=1", "  10.244.0.2:80 w=1", "  10.244.0.3:80 w=1", "  10.244.0.4:80 w=0", "  10.244.0.5:80 w=0"},
		addrs: []string{"10.96.0.10"},
	}, {
		name:  "scale to 1: the drained ones and two more are gone",
		st:    web(nil, "10.244.0.1:80=1"),
		want:  []string{"10.96.0.10:80/TCP rr", "  10.244.0.1:80 w=1"},
		addrs: []string{"10.96.0.10"},
	}, {
		name:  "ClientIP affinity turned on",
		st:    web(persistent(10800), "10.244.0.1:80=1"),
		want:  []string{"10.96.0.10:80/TCP rr persistent=10800", "  10.244.0.1:80 w=1"},
		addrs: []string{"10.96.0.10"},
	}, {
		name:  "affinity timeout changed",
		st:    web(persistent(30), "10.244.0.1:80=1"),
		want:  []string{"10.96.0.10:80/TCP rr persistent=30", "  10.244.0.1:80 w=1"},
		addrs: []string{"10.96.0.10"},
	}, {
		name:  "Service deleted: virtual server and VIP gone",
		st:    state(nil),
		want:  nil,
		addrs: nil,
	}}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			e.t = t
			stats := e.sync(step.st, false)
			if stats.Full {
				t.Errorf("sync after a change was a full one")
			}
			e.expect(step.want, step.addrs)
			e.expectNoWrites(step.st)
		})
	}
}

func TestSyncAdoptsAndRemovesEarlierState(t *testing.T) {
	e := newEnv(t)
	// An earlier run left: the wanted Service with one stale and one mis-weighted real server, a
	// Service no longer wanted, and addresses.
	mustOK(t, e.addrs.Ensure())
	mustOK(t, e.addrs.Add(netip.MustParseAddr("10.96.0.10")))
	mustOK(t, e.addrs.Add(netip.MustParseAddr("10.96.0.99")))
	old := vs("10.96.0.10:80/TCP", nil)
	mustOK(t, e.ipvs.AddVirtualServer(old.VirtualServer))
	for _, r := range vs("10.96.0.10:80/TCP", nil, "10.244.0.1:80=0", "10.244.0.7:80=1").RealServers {
		mustOK(t, e.ipvs.AddRealServer(old.Key(), r))
	}
	gone := vs("10.96.0.99:443/TCP", nil, "10.244.0.8:443=1")
	mustOK(t, e.ipvs.AddVirtualServer(gone.VirtualServer))
	e.ipvs.Writes, e.addrs.Writes = 0, 0

	st := state([]string{"10.96.0.10"}, vs("10.96.0.10:80/TCP", nil, "10.244.0.1:80=1", "10.244.0.2:80=1"))
	e.sync(st, false)
	e.expect([]string{"10.96.0.10:80/TCP rr", "  10.244.0.1:80 w=1", "  10.244.0.2:80 w=1"}, []string{"10.96.0.10"})
	// Adopted, not re-created: weight update + add + delete 10.244.0.7 + delete the old Service.
	if e.ipvs.Writes != 4 {
		t.Errorf("adoption made %d ipvs writes, want 4", e.ipvs.Writes)
	}
	if e.addrs.Writes != 1 {
		t.Errorf("adoption made %d address writes, want 1 (unbind 10.96.0.99)", e.addrs.Writes)
	}
	e.expectNoWrites(st)
}

func TestSyncErrorThenFullResync(t *testing.T) {
	e := newEnv(t)
	st := state([]string{"10.96.0.10"}, vs("10.96.0.10:80/TCP", nil, "10.244.0.1:80=1"))
	e.sync(st, false)

	e.ipvs.FailNext = errors.New("injected")
	st2 := state([]string{"10.96.0.10"}, vs("10.96.0.10:80/TCP", nil, "10.244.0.1:80=1", "10.244.0.2:80=1"))
	if _, err := e.s.Sync(st2, false); err == nil {
		t.Fatalf("sync with a failing kernel call returned no error")
	}
	stats := e.sync(st2, false)
	if !stats.Full {
		t.Errorf("the sync after an error was not a full one")
	}
	e.expect([]string{"10.96.0.10:80/TCP rr", "  10.244.0.1:80 w=1", "  10.244.0.2:80 w=1"}, []string{"10.96.0.10"})
}

func TestSyncFullRepairsDrift(t *testing.T) {
	e := newEnv(t)
	st := state([]string{"10.96.0.10"}, vs("10.96.0.10:80/TCP", nil, "10.244.0.1:80=1"))
	e.sync(st, false)
	// Someone removes the virtual server behind the proxy's back: only a full sync sees it.
	mustOK(t, e.ipvs.DeleteVirtualServer(st.Services[vs("10.96.0.10:80/TCP", nil).Key()].Key()))
	e.sync(st, false)
	e.expect(nil, []string{"10.96.0.10"})
	e.sync(st, true)
	e.expect([]string{"10.96.0.10:80/TCP rr", "  10.244.0.1:80 w=1"}, []string{"10.96.0.10"})
}

// A full sync reads real servers from RealServerTable, and with RealServers those it leaves out.
func TestSyncFullRepairsRealServerDrift(t *testing.T) {
	for _, tt := range []struct {
		name     string
		unlisted bool
	}{{"listed in the table", false}, {"left out of the table", true}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			web := vs("10.96.0.10:80/TCP", nil, "10.244.0.1:80=1")
			st := state([]string{"10.96.0.10"}, web)
			e.sync(st, false)
			// Someone adds a real server behind the proxy's back.
			mustOK(t, e.ipvs.AddRealServer(web.Key(), proxy.RealServer{Address: netip.MustParseAddr("10.244.0.9"), Port: 80, Weight: 1}))
			e.ipvs.Unlisted = map[proxy.VSKey]bool{web.Key(): tt.unlisted}
			e.sync(st, true)
			e.expect([]string{"10.96.0.10:80/TCP rr", "  10.244.0.1:80 w=1"}, []string{"10.96.0.10"})
		})
	}
}

func TestSyncReportsStaleUDP(t *testing.T) {
	e := newEnv(t)
	dns := func(rss ...string) proxy.State {
		return state([]string{"10.96.0.53"}, vs("10.96.0.53:53/UDP", nil, rss...), vs("10.96.0.53:53/TCP", nil, rss...))
	}
	e.sync(dns("10.244.0.1:53=1", "10.244.0.2:53=1"), false)
	stats := e.sync(dns("10.244.0.1:53=1"), false)
	want := []proxy.StaleEndpoint{{
		VirtualServer: proxy.VSKey{Address: netip.MustParseAddr("10.96.0.53"), Port: 53, Protocol: proxy.UDP},
		RealServer:    proxy.RSKey{Address: netip.MustParseAddr("10.244.0.2"), Port: 53},
	}}
	if !reflect.DeepEqual(stats.StaleUDP, want) {
		t.Errorf("stale UDP endpoints %v, want %v", stats.StaleUDP, want)
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
