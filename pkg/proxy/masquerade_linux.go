package proxy

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
)

// NFTablesTable is the name of the proxy's nftables table (family ip).
const NFTablesTable = "kubelet-lite-proxy"

// NFTMasquerade is Masquerade on nftables: one table with one set and one rule,
//
//	table ip kubelet-lite-proxy {
//	  set services { type ipv4_addr . inet_proto . inet_service }
//	  chain postrouting {
//	    type nat hook postrouting priority srcnat
//	    ct original ip daddr . meta l4proto . ct original proto-dst @services ip saddr != CLUSTER-CIDR masquerade
//	  }
//	}
//
// IPVS keeps conntrack entries (net/ipv4/vs/conntrack=1), so the original tuple still names the
// Service after IPVS rewrote the destination.
type NFTMasquerade struct {
	cfg     MasqueradeConfig
	netns   int // fd of the network namespace, 0 = the caller's
	applied map[VSKey]bool
}

var _ Masquerade = (*NFTMasquerade)(nil)

// NewNFTMasquerade programs the table in the network namespace netnsFd (0 = the caller's).
func NewNFTMasquerade(cfg MasqueradeConfig, netnsFd int) *NFTMasquerade {
	return &NFTMasquerade{cfg: cfg, netns: netnsFd}
}

// elementsPerMessage bounds the elements of one set-element message: their list is one netlink
// attribute, whose length (16 bits) an element of 24 bytes overflows beyond 2730 elements.
const elementsPerMessage = 1000

// conn opens nftables for a batch of about elems set elements. The batch goes to the kernel in one
// sendmsg, which fails (EMSGSIZE) beyond the socket's send buffer, by default about 200 KiB or
// 8000 elements; the buffer is sized to the batch (SO_SNDBUFFORCE, we have CAP_NET_ADMIN).
func (m *NFTMasquerade) conn(elems int) (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		return c.SetWriteBuffer(64<<10 + 40*elems)
	})}
	if m.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(m.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

func (m *NFTMasquerade) Sync(services map[VSKey]bool, full bool) error {
	full = full || m.applied == nil
	var add, del []nftables.SetElement
	if full {
		add = elements(services, nil)
	} else {
		add, del = elements(services, m.applied), elements(m.applied, services)
	}
	c, err := m.conn(len(add) + len(del))
	if err != nil {
		return err
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: NFTablesTable}
	set := &nftables.Set{
		Table: table, Name: "services", Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService),
	}
	if full {
		m.applied = nil
		// add + delete + add in one batch: the table is replaced atomically, existing or not.
		c.AddTable(table)
		c.DelTable(table)
		c.AddTable(table)
		if err := c.AddSet(set, nil); err != nil {
			return fmt.Errorf("nftables set: %w", err)
		}
		chain := c.AddChain(&nftables.Chain{
			Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
		})
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: m.rule(set)})
	}
	for part := range slices.Chunk(add, elementsPerMessage) {
		if err := c.SetAddElements(set, part); err != nil {
			return fmt.Errorf("nftables add elements: %w", err)
		}
	}
	for part := range slices.Chunk(del, elementsPerMessage) {
		if err := c.SetDeleteElements(set, part); err != nil {
			return fmt.Errorf("nftables delete elements: %w", err)
		}
	}
	if err := c.Flush(); err != nil {
		m.applied = nil
		return fmt.Errorf("nftables: %w", err)
	}
	m.applied = make(map[VSKey]bool, len(services))
	for k := range services {
		m.applied[k] = true
	}
	return nil
}

// elements returns the set elements of keys not in except.
func elements(keys, except map[VSKey]bool) []nftables.SetElement {
	var out []nftables.SetElement
	for k := range keys {
		if except[k] || !k.Address.Is4() {
			continue
		}
		// Concatenated fields are each padded to 4 bytes.
		key := make([]byte, 12)
		a := k.Address.As4()
		copy(key[0:4], a[:])
		key[4] = byte(protocolNumber(k.Protocol))
		binary.BigEndian.PutUint16(key[8:10], k.Port)
		out = append(out, nftables.SetElement{Key: key})
	}
	return out
}

func (m *NFTMasquerade) rule(set *nftables.Set) []expr.Any {
	// 32-bit registers 8, 9, 10 hold the concatenation.
	exprs := []expr.Any{
		&expr.Ct{Register: 8, Key: expr.CtKeyDST, Direction: 0},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Ct{Register: 10, Key: expr.CtKeyPROTODST, Direction: 0},
		&expr.Lookup{SourceRegister: 8, SetName: set.Name, SetID: set.ID},
	}
	if p := m.cfg.ClusterCIDR; p.IsValid() && p.Addr().Is4() {
		p = p.Masked()
		mask := net.CIDRMask(p.Bits(), 32)
		network := p.Addr().As4()
		exprs = append(exprs,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: network[:]},
		)
	}
	return append(exprs, &expr.Masq{})
}
