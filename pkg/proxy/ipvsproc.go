package proxy

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// parseIPVSTable reads the kernel's IPVS table as /proc/net/ip_vs shows it and returns the real
// servers of every address/port virtual server (firewall-mark services and unknown protocols are
// left out). It is the one read that lists every service's destinations: IPVS's netlink API dumps
// the destinations of one service per request.
//
//	IP Virtual Server version 1.2.1 (size=4096)
//	Prot LocalAddress:Port Scheduler Flags
//	  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
//	TCP  0A60000A:0050 rr
//	  -> 0AF40001:1F90      Masq    1      0          0
//	UDP  [fd00:0000:0000:0000:0000:0000:0000:0010]:0035 rr persistent 1080000 FFFFFFFF
//	FWM  00000001 rr
//
// Addresses and ports are hexadecimal (IPv4 as one big-endian number, IPv6 in brackets). Only
// the keys and weights are read: the services' own settings come from netlink, because the
// persistence timeout here is in kernel ticks.
func parseIPVSTable(r io.Reader) (map[VSKey][]RealServer, error) {
	out := map[VSKey][]RealServer{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var cur *VSKey // the service the following "->" lines belong to; nil = one we skip
	header := true
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case header:
			// The header ends with the destination columns' line.
			header = !strings.HasPrefix(line, "  -> RemoteAddress")
		case len(f) == 0:
		case f[0] == "->":
			if cur == nil {
				continue
			}
			if len(f) < 4 {
				return nil, fmt.Errorf("ip_vs line %d: %q: want address, forward, weight", n, line)
			}
			a, port, err := parseIPVSAddrPort(f[1])
			if err != nil {
				return nil, fmt.Errorf("ip_vs line %d: %w", n, err)
			}
			w, err := strconv.Atoi(f[3])
			if err != nil {
				return nil, fmt.Errorf("ip_vs line %d: weight %q: %w", n, f[3], err)
			}
			out[*cur] = append(out[*cur], RealServer{Address: a, Port: port, Weight: w})
		default:
			cur = nil
			proto, ok := Protocol(f[0]), f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP"
			if !ok || len(f) < 2 {
				continue // FWM, or a protocol the proxy does not program
			}
			a, port, err := parseIPVSAddrPort(f[1])
			if err != nil {
				return nil, fmt.Errorf("ip_vs line %d: %w", n, err)
			}
			key := VSKey{Address: a, Port: port, Protocol: proto}
			cur = &key
			out[key] = []RealServer{} // a service without real servers is still listed
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ip_vs: %w", err)
	}
	if header {
		return nil, fmt.Errorf("ip_vs: no header line")
	}
	return out, nil
}

// parseIPVSAddrPort parses "0A60000A:0050" or "[fd00:0000:…:0010]:0035".
func parseIPVSAddrPort(s string) (netip.Addr, uint16, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.Addr{}, 0, fmt.Errorf("address %q: no port", s)
	}
	port, err := strconv.ParseUint(s[i+1:], 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("address %q: port: %w", s, err)
	}
	host := s[:i]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("address %q: %w", s, err)
		}
		return a, uint16(port), nil
	}
	b, err := hex.DecodeString(host)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, 0, fmt.Errorf("address %q: want 8 hex digits", s)
	}
	return netip.AddrFrom4([4]byte(b)), uint16(port), nil
}
