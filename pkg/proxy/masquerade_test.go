package proxy

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestMasqueradeElements(t *testing.T) {
	keys := map[VSKey]bool{
		{netip.MustParseAddr("10.96.0.10"), 80, TCP}:  true,
		{netip.MustParseAddr("fd00::10"), 80, TCP}:    true, // IPv6: not in the ip table
		{netip.MustParseAddr("10.96.0.53"), 53, UDP}:  true,
		{netip.MustParseAddr("10.96.0.53"), 53, SCTP}: true,
	}
	except := map[VSKey]bool{{netip.MustParseAddr("10.96.0.53"), 53, SCTP}: true}
	got := map[string]bool{}
	for _, e := range elements(keys, except) {
		got[string(e.Key)] = true
	}
	want := map[string]bool{
		string([]byte{10, 96, 0, 10, 6, 0, 0, 0, 0, 80, 0, 0}):  true,
		string([]byte{10, 96, 0, 53, 17, 0, 0, 0, 0, 53, 0, 0}): true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("elements %v, want %v", got, want)
	}
}

func TestMasqueradeSetIsIPv4VirtualServers(t *testing.T) {
	st := State{Services: map[VSKey]*Desired{
		{netip.MustParseAddr("10.96.0.10"), 80, TCP}:      {},
		{netip.MustParseAddr("192.168.1.10"), 30080, TCP}: {},
		{netip.MustParseAddr("fd00::10"), 80, TCP}:        {},
	}}
	want := map[VSKey]bool{
		{netip.MustParseAddr("10.96.0.10"), 80, TCP}:      true,
		{netip.MustParseAddr("192.168.1.10"), 30080, TCP}: true,
	}
	if got := masqueradeSet(st); !reflect.DeepEqual(got, want) {
		t.Errorf("masqueradeSet = %v, want %v", got, want)
	}
}
