package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
)

// DummyDevice is the default name of the device that holds Service VIPs.
const DummyDevice = "kube-ipvs0"

// Dummy keeps VIPs as /32 (/128) addresses on a dummy link through netlink. The link is kept down:
// the kernel still treats its addresses as local (they appear in the local routing table), which is
// all IPVS needs, and a down link answers no ARP for them.
type Dummy struct {
	name string
	nl   *netlink.Handle

	mu     sync.Mutex
	cached netlink.Link // the device as last found; nil = look it up
}

var _ Addresses = (*Dummy)(nil)

// NewDummy manages the dummy device name ("" = DummyDevice) through the netlink handle h (nil =
// the caller's network namespace).
func NewDummy(name string, h *netlink.Handle) *Dummy {
	if name == "" {
		name = DummyDevice
	}
	if h == nil {
		h = &netlink.Handle{}
	}
	return &Dummy{name: name, nl: h}
}

// Ensure looks the device up afresh (a full sync calls it first), creating it if missing.
func (d *Dummy) Ensure() error {
	d.forget()
	_, err := d.link()
	if err == nil {
		return nil
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) {
		return err
	}
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: d.name}}
	if err := d.nl.LinkAdd(link); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add dummy link %s: %w", d.name, err)
	}
	return nil
}

// link returns the device, remembered after the first lookup: binding 10 000 VIPs should not
// cost 10 000 more lookups.
func (d *Dummy) link() (netlink.Link, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cached != nil {
		return d.cached, nil
	}
	l, err := d.nl.LinkByName(d.name)
	if err != nil {
		return nil, fmt.Errorf("find link %s: %w", d.name, err)
	}
	d.cached = l
	return l, nil
}

func (d *Dummy) forget() {
	d.mu.Lock()
	d.cached = nil
	d.mu.Unlock()
}

// withLink calls fn with the device, and once more with a fresh lookup when the remembered
// device is gone (ENODEV: someone deleted and re-created it).
func (d *Dummy) withLink(fn func(netlink.Link) error) error {
	l, err := d.link()
	if err != nil {
		return err
	}
	err = fn(l)
	if !errors.Is(err, syscall.ENODEV) {
		return err
	}
	d.forget()
	if l, err = d.link(); err != nil {
		return err
	}
	return fn(l)
}

func (d *Dummy) List() ([]netip.Addr, error) {
	var addrs []netlink.Addr
	err := d.withLink(func(l netlink.Link) (err error) {
		addrs, err = d.nl.AddrList(l, netlink.FAMILY_ALL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", d.name, err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && !ip.Unmap().IsLinkLocalUnicast() {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

func (d *Dummy) Add(a netip.Addr) error {
	err := d.withLink(func(l netlink.Link) error { return d.nl.AddrAdd(l, hostAddr(a)) })
	if err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", a, d.name, err)
	}
	return nil
}

func (d *Dummy) Delete(a netip.Addr) error {
	err := d.withLink(func(l netlink.Link) error { return d.nl.AddrDel(l, hostAddr(a)) })
	if err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("delete %s from %s: %w", a, d.name, err)
	}
	return nil
}

func hostAddr(a netip.Addr) *netlink.Addr {
	bits := a.BitLen()
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, bits)}}
}
