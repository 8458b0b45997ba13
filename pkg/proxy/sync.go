package proxy

import (
	"errors"
	"fmt"
	"net/netip"
)

// Syncer brings the kernel to a desired State. It remembers what it applied, so a sync after
// a change touches only the virtual servers that changed (no kernel reads at all); a full sync
// reads the kernel's table and dummy addresses, adopts what matches, fixes what differs and removes
// everything the proxy owns but does not want — state left by an earlier run included. A full sync
// runs first, after any error, and whenever the caller asks (the periodic resync).
type Syncer struct {
	ipvs  IPVS
	addrs Addresses

	applied      map[VSKey]*Desired
	appliedAddrs map[netip.Addr]bool
	needFull     bool
}

// NewSyncer returns a Syncer whose first Sync is a full one. A Syncer is not safe for concurrent
// use.
func NewSyncer(ipvs IPVS, addrs Addresses) *Syncer {
	return &Syncer{ipvs: ipvs, addrs: addrs, needFull: true}
}

// SyncStats counts what one sync changed.
type SyncStats struct {
	Full           bool
	VirtualServers int // added, updated or deleted
	RealServers    int // added, updated or deleted
	Addresses      int // added or deleted
	// StaleUDP are the UDP real servers removed (or set to weight 0), whose conntrack entries
	// should be flushed so clients stop sending to them.
	StaleUDP []StaleEndpoint
}

// StaleEndpoint is a real server that left a UDP virtual server.
type StaleEndpoint struct {
	VirtualServer VSKey
	RealServer    RSKey
}

// Sync applies st; full forces a comparison with the kernel. On error it has applied what it
// could and the next sync is a full one.
func (s *Syncer) Sync(st State, full bool) (SyncStats, error) {
	stats := SyncStats{Full: full || s.needFull}
	var err error
	if stats.Full {
		err = s.syncFull(st, &stats)
	} else {
		err = s.syncChanged(st, &stats)
	}
	s.needFull = err != nil
	return stats, err
}

func (s *Syncer) syncFull(st State, stats *SyncStats) error {
	if err := s.addrs.Ensure(); err != nil {
		return err
	}
	kernelVS, err := s.ipvs.VirtualServers()
	if err != nil {
		return err
	}
	kernelAddrs, err := s.addrs.List()
	if err != nil {
		return err
	}
	s.applied = make(map[VSKey]*Desired, len(st.Services))
	s.appliedAddrs = make(map[netip.Addr]bool, len(kernelAddrs))
	for _, a := range kernelAddrs {
		s.appliedAddrs[a] = true
	}
	var errs []error
	// Bind addresses first so a virtual server is reachable as soon as it exists.
	errs = append(errs, s.syncAddresses(st, stats)...)
	current := make(map[VSKey]*Desired, len(kernelVS))
	for _, vs := range kernelVS {
		current[vs.Key()] = &Desired{VirtualServer: vs}
	}
	table, err := s.ipvs.RealServerTable()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for key, d := range st.Services {
		cur := current[key]
		if cur != nil {
			rss, ok := table[key]
			if !ok {
				if rss, err = s.ipvs.RealServers(key); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			cur.RealServers = make(map[RSKey]RealServer, len(rss))
			for _, r := range rss {
				cur.RealServers[r.Key()] = r
			}
		}
		if err := s.ensure(d, cur, stats); err != nil {
			errs = append(errs, err)
			continue
		}
		s.applied[key] = d
	}
	for key, cur := range current {
		if _, ok := st.Services[key]; ok {
			continue
		}
		if err := s.remove(key, stats); err != nil {
			errs = append(errs, err)
			s.applied[key] = cur // still there; a later full sync retries
		}
	}
	errs = append(errs, s.unbindAddresses(st, stats)...)
	return errors.Join(errs...)
}

func (s *Syncer) syncChanged(st State, stats *SyncStats) error {
	var errs []error
	errs = append(errs, s.syncAddresses(st, stats)...)
	for key, d := range st.Services {
		cur := s.applied[key]
		if cur != nil && cur.equal(d) {
			continue
		}
		if err := s.ensure(d, cur, stats); err != nil {
			errs = append(errs, err)
			delete(s.applied, key)
			continue
		}
		s.applied[key] = d
	}
	for key := range s.applied {
		if _, ok := st.Services[key]; ok {
			continue
		}
		if err := s.remove(key, stats); err != nil {
			errs = append(errs, err)
			continue
		}
	}
	errs = append(errs, s.unbindAddresses(st, stats)...)
	return errors.Join(errs...)
}

// ensure makes the kernel's virtual server cur (nil = absent) into d.
func (s *Syncer) ensure(d, cur *Desired, stats *SyncStats) error {
	if cur == nil {
		if err := s.ipvs.AddVirtualServer(d.VirtualServer); err != nil {
			return err
		}
		stats.VirtualServers++
		cur = &Desired{VirtualServer: d.VirtualServer}
	} else if cur.VirtualServer != d.VirtualServer {
		if err := s.ipvs.UpdateVirtualServer(d.VirtualServer); err != nil {
			return err
		}
		stats.VirtualServers++
	}
	key := d.Key()
	var errs []error
	for rk, r := range d.RealServers {
		old, ok := cur.RealServers[rk]
		switch {
		case !ok:
			if err := s.ipvs.AddRealServer(key, r); err != nil {
				errs = append(errs, err)
				continue
			}
		case old != r:
			if err := s.ipvs.UpdateRealServer(key, r); err != nil {
				errs = append(errs, err)
				continue
			}
			if r.Weight == 0 && key.Protocol == UDP {
				stats.StaleUDP = append(stats.StaleUDP, StaleEndpoint{key, rk})
			}
		default:
			continue
		}
		stats.RealServers++
	}
	for rk := range cur.RealServers {
		if _, ok := d.RealServers[rk]; ok {
			continue
		}
		if err := s.ipvs.DeleteRealServer(key, rk); err != nil {
			errs = append(errs, err)
			continue
		}
		stats.RealServers++
		if key.Protocol == UDP {
			stats.StaleUDP = append(stats.StaleUDP, StaleEndpoint{key, rk})
		}
	}
	return errors.Join(errs...)
}

func (s *Syncer) remove(key VSKey, stats *SyncStats) error {
	if err := s.ipvs.DeleteVirtualServer(key); err != nil {
		return err
	}
	delete(s.applied, key)
	stats.VirtualServers++
	return nil
}

// syncAddresses binds the desired VIPs not yet bound.
func (s *Syncer) syncAddresses(st State, stats *SyncStats) []error {
	var errs []error
	for a := range st.Addresses {
		if s.appliedAddrs[a] {
			continue
		}
		if err := s.addrs.Add(a); err != nil {
			errs = append(errs, fmt.Errorf("bind %s: %w", a, err))
			continue
		}
		s.appliedAddrs[a] = true
		stats.Addresses++
	}
	return errs
}

// unbindAddresses removes the bound addresses no longer desired.
func (s *Syncer) unbindAddresses(st State, stats *SyncStats) []error {
	var errs []error
	for a := range s.appliedAddrs {
		if st.Addresses[a] {
			continue
		}
		if err := s.addrs.Delete(a); err != nil {
			errs = append(errs, fmt.Errorf("unbind %s: %w", a, err))
			continue
		}
		delete(s.appliedAddrs, a)
		stats.Addresses++
	}
	return errs
}
