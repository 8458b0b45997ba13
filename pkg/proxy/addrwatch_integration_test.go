//go:build vm && integration

package proxy_test

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"k8s.io/klog/v2/ktesting"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
)

// TestKernelAddressWatcher adds an address to a dummy link of the node VM's root network
// namespace (the watcher follows the agent's own namespace) and checks that the watcher serves
// it, calls changed, and drops it again once it is removed; a VIP device's address is never
// served.
func TestKernelAddressWatcher(t *testing.T) {
	if os.Getenv("KL_NODEVM") == "" {
		t.Fatal("TestKernelAddressWatcher adds links to the root network namespace: it runs only in the node VM")
	}
	mk := func(name, addr string) netlink.Link {
		t.Helper()
		l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(l); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { netlink.LinkDel(l) }) //nolint:errcheck // best effort
		a, err := netlink.ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		return l
	}
	mk("kl-vipdev0", "198.51.100.77/32")
	w, err := proxy.NewAddressWatcher("kl-vipdev0", nil)
	if err != nil {
		t.Fatal(err)
	}
	var changes atomic.Int32
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.Run(ctx, func() { changes.Add(1) }, 50*time.Millisecond)

	want := netip.MustParseAddr("198.51.100.9")
	has := func() bool {
		addrs, err := w.Addresses()
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(addrs, netip.MustParseAddr("198.51.100.77")) {
			t.Fatalf("the VIP device's address is served: %v", addrs)
		}
		return slices.Contains(addrs, want)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				addrs, _ := w.Addresses()
				t.Fatalf("%s: not after 30s; addresses %v, %d changes", what, addrs, changes.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the subscription start
	before := changes.Load()
	l := mk("kl-node9", want.String()+"/24")
	wait("the new address served", has)
	wait("changed called", func() bool { return changes.Load() > before })
	if err := netlink.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	wait("the removed address dropped", func() bool { return !has() })
}
