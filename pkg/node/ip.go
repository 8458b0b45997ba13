package node

import "net"

// DefaultIP is the address a node reports when it is given none: the first
// non-loopback IPv4 address of the host, else 127.0.0.1.
func DefaultIP() net.IP { return defaultNodeIP() }
