package proxy

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseIPVSTable(t *testing.T) {
	// As the 6.1 kernel prints it (ip_vs_info_seq_show), trailing spaces included.
	const table = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A60000A:0050 rr 
  -> 0AF40002:1F90      Masq    0      0          3         
  -> 0AF40001:1F90      Masq    1      2          0         
UDP  0A60000A:0035 rr persistent 2700000 FFFFFFFF
FWM  00000001 rr 
  -> 0AF40009:0050      Masq    1      0          0         
SCTP [fd00:0000:0000:0000:0000:0000:0000:0010]:0BB8 sh ops 
  -> [fd00:0000:0000:0000:0000:0000:0001:0001]:0BB8      Masq    5      0          0         
`
	got, err := parseIPVSTable(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	want := map[VSKey][]RealServer{
		{a("10.96.0.10"), 80, TCP}:  {{a("10.244.0.2"), 8080, 0}, {a("10.244.0.1"), 8080, 1}},
		{a("10.96.0.10"), 53, UDP}:  {},
		{a("fd00::10"), 3000, SCTP}: {{a("fd00::1:1"), 3000, 5}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseIPVSTable =\n%v\nwant\n%v", got, want)
	}
}

func TestParseIPVSTableRejects(t *testing.T) {
	const header = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
	for _, tt := range []struct{ name, text string }{
		{"empty", ""},
		{"bad service address", header + "TCP  0A60000:0050 rr\n"},
		{"bad real server port", header + "TCP  0A60000A:0050 rr\n  -> 0AF40001:XYZ      Masq    1      0          0\n"},
		{"bad weight", header + "TCP  0A60000A:0050 rr\n  -> 0AF40001:1F90      Masq    one      0          0\n"},
		{"short real server line", header + "TCP  0A60000A:0050 rr\n  -> 0AF40001:1F90\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := parseIPVSTable(strings.NewReader(tt.text)); err == nil {
				t.Errorf("parseIPVSTable succeeded: %v", got)
			}
		})
	}
}
