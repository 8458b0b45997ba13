package proxy

import "net/netip"

// Masquerade keeps the kernel's set of Service addresses (VIP, protocol, port — node ports
// included) whose traffic is masqueraded when it comes from outside the pod network, so that
// replies from a backend come back through this node, where IPVS reverses its DNAT. The rules
// are fixed; only the set changes with the Services.
//
// Contract: Sync with full=true rebuilds the table from scratch (adopting nothing from an earlier
// run); full=false may apply only the difference to the previous successful Sync.
type Masquerade interface {
	Sync(services map[VSKey]bool, full bool) error
}

// masqueradeSet returns the IPv4 virtual servers of st (the masquerade table is IPv4 only).
func masqueradeSet(st State) map[VSKey]bool {
	out := make(map[VSKey]bool, len(st.Services))
	for k := range st.Services {
		if k.Address.Is4() {
			out[k] = true
		}
	}
	return out
}

// MasqueradeConfig says which sources are masqueraded.
type MasqueradeConfig struct {
	// ClusterCIDR is the pod network. Traffic to a Service from outside it (the node itself,
	// other hosts through a NodePort or externalIP) is masqueraded; traffic from pods keeps its
	// source. Invalid (zero) = masquerade all Service traffic.
	ClusterCIDR netip.Prefix
}
