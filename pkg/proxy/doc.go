// Package proxy programs Service virtual IPs into the kernel's IPVS load balancer, as kube-proxy's
// IPVS mode does: informers on Services and EndpointSlices poke a bounded-frequency runner; each sync
// computes the whole desired state (Desired, pure), ensures it in the kernel through the small IPVS
// and Addresses interfaces, and removes what the proxy owns but no longer wants. VIPs are bound to
// the dummy device kube-ipvs0 so the node accepts packets for them.
package proxy
