package proxy

import (
	"fmt"
	"net/netip"
)

// Protocol is a transport protocol IPVS balances: "TCP", "UDP" or "SCTP" (core/v1 spelling).
type Protocol string

const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// DefaultScheduler is the IPVS scheduler used when none is configured (round robin).
const DefaultScheduler = "rr"

// DefaultAffinityTimeout is the ClientIP affinity timeout when a Service sets none (3 hours, as the
// API server defaults sessionAffinityConfig.clientIP.timeoutSeconds).
const DefaultAffinityTimeout = 10800

// VirtualServer is one IPVS virtual service: an address, port and protocol that the kernel balances
// over real servers. Key identifies it; the other fields are its settings.
type VirtualServer struct {
	Address   netip.Addr
	Port      uint16
	Protocol  Protocol
	Scheduler string
	// Persistent sends one client's connections to the same real server for Timeout seconds
	// (sessionAffinity: ClientIP).
	Persistent bool
	Timeout    uint32
}

// VSKey identifies a virtual server in the kernel.
type VSKey struct {
	Address  netip.Addr
	Port     uint16
	Protocol Protocol
}

// Key returns the identity of v.
func (v VirtualServer) Key() VSKey { return VSKey{v.Address, v.Port, v.Protocol} }

func (k VSKey) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(k.Address, k.Port), k.Protocol)
}

// RealServer is one destination of a virtual server. Weight 0 keeps existing connections but
// receives no new ones (a terminating endpoint draining).
type RealServer struct {
	Address netip.Addr
	Port    uint16
	Weight  int
}

// RSKey identifies a real server within its virtual server.
type RSKey struct {
	Address netip.Addr
	Port    uint16
}

// Key returns the identity of r.
func (r RealServer) Key() RSKey { return RSKey{r.Address, r.Port} }

func (k RSKey) String() string { return netip.AddrPortFrom(k.Address, k.Port).String() }

// IPVS is the part of the kernel's IPVS table the proxy uses.
//
// Contract: Add* fail when the object exists, Update* when it does not; Delete* of an object that
// is already gone succeeds (returns nil). VirtualServers lists only address/port/protocol services
// (firewall-mark services are not the proxy's and are left out).
type IPVS interface {
	VirtualServers() ([]VirtualServer, error)
	AddVirtualServer(VirtualServer) error
	UpdateVirtualServer(VirtualServer) error
	DeleteVirtualServer(VSKey) error

	RealServers(VSKey) ([]RealServer, error)
	// RealServerTable returns the real servers of many virtual servers in one read (a full sync
	// would otherwise ask once per virtual server). A virtual server it leaves out is asked with
	// RealServers; one it lists maps to all its real servers.
	RealServerTable() (map[VSKey][]RealServer, error)
	AddRealServer(VSKey, RealServer) error
	UpdateRealServer(VSKey, RealServer) error
	DeleteRealServer(VSKey, RSKey) error
}

// Addresses is the set of VIPs bound to the proxy's dummy device (kube-ipvs0), so that the node
// accepts packets sent to them. Every address on the device belongs to the proxy.
//
// Contract: Ensure creates the device if missing and may be called any number of times; Add of an
// address already present and Delete of one already gone succeed.
type Addresses interface {
	Ensure() error
	List() ([]netip.Addr, error)
	Add(netip.Addr) error
	Delete(netip.Addr) error
}

// Conntrack forgets the UDP flows to real servers that left a virtual server: UDP has no
// connection end, so without this a client keeps sending to the gone endpoint as long as it
// keeps the flow alive.
type Conntrack interface {
	FlushUDP([]StaleEndpoint) error
}
