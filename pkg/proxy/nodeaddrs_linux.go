package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"k8s.io/klog/v2"
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
	skip := -1
	if l, err := h.LinkByName(dummy); err == nil {
		skip = l.Attrs().Index
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && a.LinkIndex != skip && a.IP.IsGlobalUnicast() {
			out = append(out, ip.Unmap())
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out), nil
}

// AddressWatcher keeps the node's NodePort addresses (NodeAddresses) up to date from the
// kernel's address notifications, so that a sync reads them from memory: a sync that asked
// the kernel would wait on its routing lock, which is held for long while pods' veths are
// being torn down.
type AddressWatcher struct {
	dummy    string
	fallback []netip.Addr

	mu    sync.Mutex
	addrs []netip.Addr
}

// NewAddressWatcher reads the addresses once; fallback is what Addresses returns when the node
// has none of its own, or they cannot be read.
func NewAddressWatcher(dummy string, fallback []netip.Addr) (*AddressWatcher, error) {
	w := &AddressWatcher{dummy: dummy, fallback: fallback}
	var err error
	w.addrs, err = NodeAddresses(nil, dummy)
	return w, err
}

// Addresses is the current set (Config.NodeAddresses).
func (w *AddressWatcher) Addresses() ([]netip.Addr, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.addrs) == 0 {
		return w.fallback, nil
	}
	return w.addrs, nil
}

// Run follows address changes until ctx ends, calling changed when the set changed (the
// proxier's Trigger). Notifications are coalesced for settle before the addresses are read
// again; a lost subscription is made again.
func (w *AddressWatcher) Run(ctx context.Context, changed func(), settle time.Duration) {
	log := klog.FromContext(ctx)
	for ctx.Err() == nil {
		updates := make(chan netlink.AddrUpdate, 64)
		done := make(chan struct{})
		failed := make(chan error, 1)
		err := netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{
			ErrorCallback: func(err error) {
				select {
				case failed <- err:
				default:
				}
			},
		})
		if err != nil {
			log.Error(err, "Cannot follow the node's addresses; retrying")
			if !sleep(ctx, 5*time.Second) {
				return
			}
			continue
		}
		w.refresh(ctx, changed) // what changed before the subscription
		err = w.follow(ctx, updates, failed, changed, settle)
		close(done)
		if err != nil {
			log.Error(err, "Lost the node's address notifications; subscribing again")
		}
	}
}

func (w *AddressWatcher) follow(ctx context.Context, updates <-chan netlink.AddrUpdate, failed <-chan error, changed func(), settle time.Duration) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case _, ok := <-updates:
			if !ok {
				return fmt.Errorf("address subscription closed")
			}
			if !sleep(ctx, settle) {
				return nil
			}
			for drained := false; !drained; {
				select {
				case <-updates:
				default:
					drained = true
				}
			}
			w.refresh(ctx, changed)
		}
	}
}

// refresh reads the addresses and calls changed when they differ from the last read; a failed
// read keeps the last set.
func (w *AddressWatcher) refresh(ctx context.Context, changed func()) {
	addrs, err := NodeAddresses(nil, w.dummy)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Reading the node's addresses failed; NodePorts stay on the last ones read")
		return
	}
	w.mu.Lock()
	same := slices.Equal(addrs, w.addrs)
	w.addrs = addrs
	w.mu.Unlock()
	if !same {
		changed()
	}
}
