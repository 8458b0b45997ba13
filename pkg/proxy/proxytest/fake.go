// Package proxytest has map-backed fakes of the proxy's kernel interfaces for unit tests.
package proxytest

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
)

var (
	_ proxy.IPVS      = (*IPVS)(nil)
	_ proxy.Addresses = (*Addresses)(nil)
)

// ErrExists and ErrNotFound are what the fakes return where the kernel would say EEXIST or
// ESRCH/ENOENT for Add and Update.
var (
	ErrExists   = errors.New("exists")
	ErrNotFound = errors.New("not found")
)

// IPVS is an in-memory IPVS table. Writes counts the mutating calls, so tests can check that a sync
// with nothing to do changes nothing.
type IPVS struct {
	mu       sync.Mutex
	services map[proxy.VSKey]*service
	Writes   int
	// FailNext, when set, is returned (once) by the next mutating call.
	FailNext error
	// Unlisted are virtual servers RealServerTable leaves out, as the kernel's may.
	Unlisted map[proxy.VSKey]bool
}

type service struct {
	vs   proxy.VirtualServer
	dsts map[proxy.RSKey]proxy.RealServer
}

// NewIPVS returns an empty table.
func NewIPVS() *IPVS { return &IPVS{services: map[proxy.VSKey]*service{}} }

func (f *IPVS) write() error {
	f.Writes++
	if err := f.FailNext; err != nil {
		f.FailNext = nil
		return err
	}
	return nil
}

func (f *IPVS) VirtualServers() ([]proxy.VirtualServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]proxy.VirtualServer, 0, len(f.services))
	for _, s := range f.services {
		out = append(out, s.vs)
	}
	return out, nil
}

func (f *IPVS) AddVirtualServer(v proxy.VirtualServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write(); err != nil {
		return err
	}
	if _, ok := f.services[v.Key()]; ok {
		return fmt.Errorf("add %s: %w", v.Key(), ErrExists)
	}
	f.services[v.Key()] = &service{vs: v, dsts: map[proxy.RSKey]proxy.RealServer{}}
	return nil
}

func (f *IPVS) UpdateVirtualServer(v proxy.VirtualServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write(); err != nil {
		return err
	}
	s, ok := f.services[v.Key()]
	if !ok {
		return fmt.Errorf("update %s: %w", v.Key(), ErrNotFound)
	}
	s.vs = v
	return nil
}

func (f *IPVS) DeleteVirtualServer(k proxy.VSKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write(); err != nil {
		return err
	}
	delete(f.services, k)
	return nil
}

func (f *IPVS) RealServers(k proxy.VSKey) ([]proxy.RealServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[k]
	if !ok {
		return nil, fmt.Errorf("list %s: %w", k, ErrNotFound)
	}
	out := make([]proxy.RealServer, 0, len(s.dsts))
	for _, d := range s.dsts {
		out = append(out, d)
	}
	return out, nil
}

// RealServerTable lists every virtual server but those in Unlisted.
func (f *IPVS) RealServerTable() (map[proxy.VSKey][]proxy.RealServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[proxy.VSKey][]proxy.RealServer{}
	for k, s := range f.services {
		if f.Unlisted[k] {
			continue
		}
		out[k] = make([]proxy.RealServer, 0, len(s.dsts))
		for _, d := range s.dsts {
			out[k] = append(out[k], d)
		}
	}
	return out, nil
}

func (f *IPVS) AddRealServer(k proxy.VSKey, r proxy.RealServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write(); err != nil {
		return err
	}
	s, ok := f.services[k]
	if !ok {
		return fmt.Errorf("add to %s: %w", k, ErrNotFound)
	}
	if _, ok := s.dsts[r.Key()]; ok {
		return fmt.Errorf("add %s to %s: %w", r.Key(), k, ErrExists)
	}
	s.dsts[r.Key()] = r
	return nil
}

func (f *IPVS) UpdateRealServer(k proxy.VSKey, r proxy.RealServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write(); err != nil {
		return err
	}
	s, ok := f.services[k]
	if !ok {
		return fmt.Errorf("update in %s: %w", k, ErrNotFound)
	}
	if _, ok := s.dsts[r.Key()]; !ok {
		return fmt.Errorf("update %s in %s: %w", r.Key(), k, ErrNotFound)
	}
	s.dsts[r.Key()] = r
	return nil
}

func (f *IPVS) DeleteRealServer(k proxy.VSKey, r proxy.RSKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write(); err != nil {
		return err
	}
	if s, ok := f.services[k]; ok {
		delete(s.dsts, r)
	}
	return nil
}

// Dump returns the table as sorted lines, one per virtual server followed by its real servers, e.g.
//
//	10.96.0.10:53/UDP rr
//	  10.244.0.5:53 w=1
//
// Persistent services end in " persistent=<timeout>".
func (f *IPVS) Dump() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]proxy.VSKey, 0, len(f.services))
	for k := range f.services {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	var out []string
	for _, k := range keys {
		s := f.services[k]
		line := fmt.Sprintf("%s %s", k, s.vs.Scheduler)
		if s.vs.Persistent {
			line += fmt.Sprintf(" persistent=%d", s.vs.Timeout)
		}
		out = append(out, line)
		var dsts []string
		for _, d := range s.dsts {
			dsts = append(dsts, fmt.Sprintf("  %s w=%d", d.Key(), d.Weight))
		}
		sort.Strings(dsts)
		out = append(out, dsts...)
	}
	return out
}

// Addresses is an in-memory dummy device.
type Addresses struct {
	mu      sync.Mutex
	Created bool
	addrs   map[netip.Addr]bool
	Writes  int
}

// NewAddresses returns a device that does not exist yet.
func NewAddresses() *Addresses { return &Addresses{addrs: map[netip.Addr]bool{}} }

func (a *Addresses) Ensure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Created = true
	return nil
}

func (a *Addresses) List() ([]netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.Created {
		return nil, errors.New("no device")
	}
	out := make([]netip.Addr, 0, len(a.addrs))
	for ip := range a.addrs {
		out = append(out, ip)
	}
	return out, nil
}

func (a *Addresses) Add(ip netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.Created {
		return errors.New("no device")
	}
	a.Writes++
	a.addrs[ip] = true
	return nil
}

func (a *Addresses) Delete(ip netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Writes++
	delete(a.addrs, ip)
	return nil
}

// Dump returns the addresses, sorted.
func (a *Addresses) Dump() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for ip := range a.addrs {
		out = append(out, ip.String())
	}
	sort.Strings(out)
	return out
}
