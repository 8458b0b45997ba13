package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netns"
)

// Flags of an IPVS service (include/uapi/linux/ip_vs.h).
const (
	svcFlagPersistent = 0x1
	svcFlagHashed     = 0x2 // set by the kernel on every listed service; ignored
)

// KernelIPVS is IPVS on the kernel through moby/ipvs (generic netlink). It is safe for concurrent
// use: calls are serialized, because a moby/ipvs Handle shares one socket and a concurrent call
// can take another's reply (which then waits forever).
type KernelIPVS struct {
	mu sync.Mutex
	h  *ipvs.Handle
	ns netns.NsHandle // for RealServerTable's /proc/net/ip_vs
}

var _ IPVS = (*KernelIPVS)(nil)

// NewKernelIPVS opens IPVS in the network namespace at netnsPath ("" = the caller's). It fails
// when the kernel has no ip_vs.
func NewKernelIPVS(netnsPath string) (*KernelIPVS, error) {
	ns, err := netns.Get()
	if netnsPath != "" {
		ns, err = netns.GetFromPath(netnsPath)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %q: %w", netnsPath, err)
	}
	h, err := ipvs.New(netnsPath)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("open ipvs: %w", err)
	}
	k := &KernelIPVS{h: h, ns: ns}
	if _, err := h.GetServices(); err != nil {
		k.Close()
		return nil, fmt.Errorf("list ipvs services (is ip_vs loaded?): %w", err)
	}
	return k, nil
}

// Close releases the netlink socket.
func (k *KernelIPVS) Close() {
	k.h.Close()
	k.ns.Close()
}

func (k *KernelIPVS) VirtualServers() ([]VirtualServer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	svcs, err := k.h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("list ipvs services: %w", err)
	}
	out := make([]VirtualServer, 0, len(svcs))
	for _, s := range svcs {
		if s.FWMark != 0 {
			continue
		}
		vs, ok := fromIPVSService(s)
		if ok {
			out = append(out, vs)
		}
	}
	return out, nil
}

func (k *KernelIPVS) AddVirtualServer(v VirtualServer) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.h.NewService(toIPVSService(v)); err != nil {
		return fmt.Errorf("add virtual server %s: %w", v.Key(), err)
	}
	return nil
}

func (k *KernelIPVS) UpdateVirtualServer(v VirtualServer) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.h.UpdateService(toIPVSService(v)); err != nil {
		return fmt.Errorf("update virtual server %s: %w", v.Key(), err)
	}
	return nil
}

func (k *KernelIPVS) DeleteVirtualServer(key VSKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.h.DelService(toIPVSService(VirtualServer{Address: key.Address, Port: key.Port, Protocol: key.Protocol}))
	if err != nil && !isGone(err) {
		return fmt.Errorf("delete virtual server %s: %w", key, err)
	}
	return nil
}

func (k *KernelIPVS) RealServers(key VSKey) ([]RealServer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	dsts, err := k.h.GetDestinations(keyService(key))
	if err != nil {
		return nil, fmt.Errorf("list real servers of %s: %w", key, err)
	}
	out := make([]RealServer, 0, len(dsts))
	for _, d := range dsts {
		addr, ok := netip.AddrFromSlice(d.Address)
		if !ok {
			continue
		}
		out = append(out, RealServer{Address: addr.Unmap(), Port: d.Port, Weight: d.Weight})
	}
	return out, nil
}

// RealServerTable reads /proc/net/ip_vs of the handle's network namespace: one read instead of a
// netlink request per virtual server (the kernel's netlink API dumps one service's destinations at
// a time).
func (k *KernelIPVS) RealServerTable() (map[VSKey][]RealServer, error) {
	f, err := openInNetns(k.ns, "/proc/thread-self/net/ip_vs")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The kernel hands out at most a page per read and seeks to it from the table's start, so
	// reading is already as batched as it gets; the buffer only spares small reads.
	return parseIPVSTable(bufio.NewReaderSize(f, 64<<10))
}

// openInNetns opens a /proc/thread-self/net file of the network namespace ns. The open file keeps
// showing that namespace, whichever thread reads it. It opens on a thread of its own, which the
// runtime discards if it cannot return to its namespace.
func openInNetns(ns netns.NsHandle, path string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with this goroutine
		f, err := func() (*os.File, error) {
			cur, err := netns.Get()
			if err != nil {
				return nil, fmt.Errorf("current network namespace: %w", err)
			}
			defer cur.Close()
			if !cur.Equal(ns) { // setns needs CAP_SYS_ADMIN; the usual case is without it
				if err := netns.Set(ns); err != nil {
					return nil, fmt.Errorf("enter network namespace: %w", err)
				}
			}
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", path, err)
			}
			return f, nil
		}()
		done <- result{f, err}
	}()
	r := <-done
	return r.f, r.err
}

func (k *KernelIPVS) AddRealServer(key VSKey, r RealServer) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.h.NewDestination(keyService(key), toDestination(r)); err != nil {
		return fmt.Errorf("add real server %s to %s: %w", r.Key(), key, err)
	}
	return nil
}

func (k *KernelIPVS) UpdateRealServer(key VSKey, r RealServer) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.h.UpdateDestination(keyService(key), toDestination(r)); err != nil {
		return fmt.Errorf("update real server %s of %s: %w", r.Key(), key, err)
	}
	return nil
}

func (k *KernelIPVS) DeleteRealServer(key VSKey, r RSKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.h.DelDestination(keyService(key), toDestination(RealServer{Address: r.Address, Port: r.Port}))
	if err != nil && !isGone(err) {
		return fmt.Errorf("delete real server %s of %s: %w", r, key, err)
	}
	return nil
}

// isGone reports the kernel's answers for a service (ESRCH) or destination (ENOENT) that does not
// exist.
func isGone(err error) bool {
	return errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT)
}

func protocolNumber(p Protocol) uint16 {
	switch p {
	case UDP:
		return syscall.IPPROTO_UDP
	case SCTP:
		return syscall.IPPROTO_SCTP
	default:
		return syscall.IPPROTO_TCP
	}
}

func protocolName(n uint16) (Protocol, bool) {
	switch n {
	case syscall.IPPROTO_TCP:
		return TCP, true
	case syscall.IPPROTO_UDP:
		return UDP, true
	case syscall.IPPROTO_SCTP:
		return SCTP, true
	}
	return "", false
}

func family(a netip.Addr) uint16 {
	if a.Is4() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}

func keyService(k VSKey) *ipvs.Service {
	return toIPVSService(VirtualServer{Address: k.Address, Port: k.Port, Protocol: k.Protocol})
}

func toIPVSService(v VirtualServer) *ipvs.Service {
	s := &ipvs.Service{
		Address:       net.IP(v.Address.AsSlice()),
		Protocol:      protocolNumber(v.Protocol),
		Port:          v.Port,
		SchedName:     v.Scheduler,
		AddressFamily: family(v.Address),
		Netmask:       0xffffffff,
	}
	if v.Address.Is6() {
		s.Netmask = 128
	}
	if v.Persistent {
		s.Flags |= svcFlagPersistent
		s.Timeout = v.Timeout
	}
	return s
}

func fromIPVSService(s *ipvs.Service) (VirtualServer, bool) {
	addr, ok := netip.AddrFromSlice(s.Address)
	if !ok {
		return VirtualServer{}, false
	}
	proto, ok := protocolName(s.Protocol)
	if !ok {
		return VirtualServer{}, false
	}
	vs := VirtualServer{
		Address:   addr.Unmap(),
		Port:      s.Port,
		Protocol:  proto,
		Scheduler: s.SchedName,
	}
	if s.Flags&svcFlagPersistent != 0 {
		vs.Persistent = true
		vs.Timeout = s.Timeout
	}
	return vs, true
}

func toDestination(r RealServer) *ipvs.Destination {
	return &ipvs.Destination{
		Address:         net.IP(r.Address.AsSlice()),
		Port:            r.Port,
		Weight:          r.Weight,
		ConnectionFlags: ipvs.ConnectionFlagMasq,
		AddressFamily:   family(r.Address),
	}
}
