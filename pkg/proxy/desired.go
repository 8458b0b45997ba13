package proxy

import (
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// State is what the kernel should hold: virtual servers with their real servers, and the VIPs bound
// to the dummy device. Node addresses (NodePort) are served but never bound: they are the node's.
type State struct {
	Services  map[VSKey]*Desired
	Addresses map[netip.Addr]bool
}

// Desired is one virtual server and its real servers.
type Desired struct {
	VirtualServer
	RealServers map[RSKey]RealServer
}

// equal reports whether d and o would program the same kernel state.
func (d *Desired) equal(o *Desired) bool {
	if d.VirtualServer != o.VirtualServer || len(d.RealServers) != len(o.RealServers) {
		return false
	}
	for k, r := range d.RealServers {
		if o.RealServers[k] != r {
			return false
		}
	}
	return true
}

// Options are the node's facts that shape the desired state.
type Options struct {
	// NodeIPs are the addresses NodePorts are served on.
	NodeIPs []netip.Addr
	// Scheduler is the IPVS scheduler of every virtual server ("" = DefaultScheduler).
	Scheduler string
}

// Compute returns the desired state for services and their EndpointSlices. Headless Services
// (clusterIP None) and type ExternalName are not proxied. Each Service port becomes one virtual
// server per ClusterIP, per externalIP and (with a nodePort) per node IP of the same family. Its
// real servers are the ready endpoints at weight 1 and the terminating-but-serving ones at weight 0
// (existing connections drain, new ones go elsewhere) — or at weight 1 when no endpoint is ready;
// other endpoints are left out.
// sessionAffinity ClientIP makes the virtual servers persistent with the Service's timeout.
func Compute(services []*v1.Service, slices []*discovery.EndpointSlice, opts Options) State {
	st := State{Services: map[VSKey]*Desired{}, Addresses: map[netip.Addr]bool{}}
	scheduler := opts.Scheduler
	if scheduler == "" {
		scheduler = DefaultScheduler
	}
	bySvc := map[string][]*discovery.EndpointSlice{}
	for _, s := range slices {
		name := s.Labels[discovery.LabelServiceName]
		if name == "" {
			continue
		}
		key := s.Namespace + "/" + name
		bySvc[key] = append(bySvc[key], s)
	}
	for _, svc := range services {
		if !proxied(svc) {
			continue
		}
		addService(&st, svc, bySvc[svc.Namespace+"/"+svc.Name], opts.NodeIPs, scheduler)
	}
	return st
}

func proxied(svc *v1.Service) bool {
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return false
	}
	return svc.Spec.ClusterIP != v1.ClusterIPNone && svc.Spec.ClusterIP != ""
}

func addService(st *State, svc *v1.Service, slices []*discovery.EndpointSlice, nodeIPs []netip.Addr, scheduler string) {
	var vips []netip.Addr
	for _, s := range clusterIPs(svc) {
		if ip, err := netip.ParseAddr(s); err == nil {
			vips = append(vips, ip.Unmap())
		}
	}
	for _, s := range svc.Spec.ExternalIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			vips = append(vips, ip.Unmap())
		}
	}
	persistent, timeout := affinity(svc)
	for _, port := range svc.Spec.Ports {
		proto := Protocol(port.Protocol)
		if proto == "" {
			proto = TCP
		}
		if port.Port <= 0 || port.Port > 65535 {
			continue
		}
		base := VirtualServer{Protocol: proto, Scheduler: scheduler, Persistent: persistent, Timeout: timeout}
		for _, vip := range vips {
			vs := base
			vs.Address, vs.Port = vip, uint16(port.Port)
			st.Addresses[vip] = true
			addVirtualServer(st, vs, port, slices)
		}
		if port.NodePort <= 0 || port.NodePort > 65535 {
			continue
		}
		for _, nip := range nodeIPs {
			if !hasFamily(svc, nip) {
				continue
			}
			vs := base
			vs.Address, vs.Port = nip, uint16(port.NodePort)
			addVirtualServer(st, vs, port, slices)
		}
	}
}

func clusterIPs(svc *v1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	return []string{svc.Spec.ClusterIP}
}

// hasFamily reports whether svc has a ClusterIP of ip's family.
func hasFamily(svc *v1.Service, ip netip.Addr) bool {
	for _, s := range clusterIPs(svc) {
		if c, err := netip.ParseAddr(s); err == nil && c.Unmap().Is4() == ip.Is4() {
			return true
		}
	}
	return false
}

func affinity(svc *v1.Service) (bool, uint32) {
	if svc.Spec.SessionAffinity != v1.ServiceAffinityClientIP {
		return false, 0
	}
	timeout := uint32(DefaultAffinityTimeout)
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil &&
		*c.ClientIP.TimeoutSeconds > 0 {
		timeout = uint32(*c.ClientIP.TimeoutSeconds)
	}
	return true, timeout
}

// addVirtualServer adds vs with the endpoints of slices that serve port and match vs's family. An
// endpoint listed twice (in two slices) keeps its highest weight.
func addVirtualServer(st *State, vs VirtualServer, port v1.ServicePort, slices []*discovery.EndpointSlice) {
	d := &Desired{VirtualServer: vs, RealServers: map[RSKey]RealServer{}}
	if prev, ok := st.Services[vs.Key()]; ok {
		d = prev // two Services claiming one VIP:port; the first one's settings win
	}
	st.Services[vs.Key()] = d
	for _, sl := range slices {
		if !sliceFamily(sl, vs.Address) {
			continue
		}
		target, ok := slicePort(sl, port)
		if !ok {
			continue
		}
		for _, ep := range sl.Endpoints {
			weight, ok := endpointWeight(ep)
			if !ok {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || ip.Unmap().Is4() != vs.Address.Is4() {
					continue
				}
				rs := RealServer{Address: ip.Unmap(), Port: target, Weight: weight}
				if old, ok := d.RealServers[rs.Key()]; !ok || old.Weight < weight {
					d.RealServers[rs.Key()] = rs
				}
				break // only an endpoint's first address is used, as upstream does
			}
		}
	}
	useTerminatingIfNoneReady(d)
}

// useTerminatingIfNoneReady gives the terminating-but-serving real servers weight 1 when no ready
// one exists, so a Service being rolled keeps answering (upstream's ProxyTerminatingEndpoints).
func useTerminatingIfNoneReady(d *Desired) {
	for _, r := range d.RealServers {
		if r.Weight > 0 {
			return
		}
	}
	for k, r := range d.RealServers {
		r.Weight = 1
		d.RealServers[k] = r
	}
}

func sliceFamily(sl *discovery.EndpointSlice, vip netip.Addr) bool {
	switch sl.AddressType {
	case discovery.AddressTypeIPv4:
		return vip.Is4()
	case discovery.AddressTypeIPv6:
		return vip.Is6()
	}
	return false // FQDN slices are not proxied
}

// slicePort finds the slice port matching the Service port by name and protocol.
func slicePort(sl *discovery.EndpointSlice, port v1.ServicePort) (uint16, bool) {
	proto := port.Protocol
	if proto == "" {
		proto = v1.ProtocolTCP
	}
	for _, p := range sl.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		pp := v1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if name != port.Name || pp != proto || p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
			continue
		}
		return uint16(*p.Port), true
	}
	return 0, false
}

// endpointWeight is 1 for a ready endpoint, 0 for one terminating but still serving, and not ok
// otherwise. Unset conditions mean ready and serving, not terminating (discovery/v1 semantics).
func endpointWeight(ep discovery.Endpoint) (int, bool) {
	c := ep.Conditions
	ready := c.Ready == nil || *c.Ready
	serving := ready
	if c.Serving != nil {
		serving = *c.Serving
	}
	terminating := c.Terminating != nil && *c.Terminating
	switch {
	case ready && !terminating:
		return 1, true
	case terminating && serving:
		return 0, true
	}
	return 0, false
}
