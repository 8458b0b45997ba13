package proxy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSysctlsEnsureIPVS(t *testing.T) {
	tests := []struct {
		name       string
		release    string
		bridge     bool
		want       map[string]string
		wantNoFile []string
	}{{
		name:    "new kernel with br_netfilter",
		release: "6.1.0-56-cloud-amd64",
		bridge:  true,
		want: map[string]string{
			"net/ipv4/vs/conntrack": "1", "net/ipv4/vs/expire_nodest_conn": "1",
			"net/ipv4/vs/expire_quiescent_template": "1", "net/ipv4/ip_forward": "1",
			"net/ipv4/vs/conn_reuse_mode": "1", "net/bridge/bridge-nf-call-iptables": "1",
		},
	}, {
		name:    "old kernel without br_netfilter",
		release: "5.4.0-100-generic",
		want: map[string]string{
			"net/ipv4/vs/conntrack": "1", "net/ipv4/vs/conn_reuse_mode": "0",
		},
		wantNoFile: []string{"net/bridge/bridge-nf-call-iptables"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{
				"kernel/osrelease": tt.release, "net/ipv4/vs/conntrack": "0", "net/ipv4/vs/expire_nodest_conn": "0",
				"net/ipv4/vs/expire_quiescent_template": "0", "net/ipv4/ip_forward": "0", "net/ipv4/vs/conn_reuse_mode": "1",
			}
			if tt.bridge {
				files["net/bridge/bridge-nf-call-iptables"] = "0"
			}
			for name, v := range files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := Sysctls{Root: root}
			if err := s.EnsureIPVS(); err != nil {
				t.Fatalf("EnsureIPVS: %v", err)
			}
			for name, want := range tt.want {
				if got, err := s.Get(name); err != nil || got != want {
					t.Errorf("%s = %q (%v), want %q", name, got, err, want)
				}
			}
			for _, name := range tt.wantNoFile {
				if _, err := os.Stat(filepath.Join(root, name)); err == nil {
					t.Errorf("%s was created", name)
				}
			}
		})
	}
}

func TestSysctlsEnsureIPVSFailsWithoutIPVS(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "kernel/osrelease"), []byte("6.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (Sysctls{Root: root}).EnsureIPVS(); err == nil {
		t.Errorf("EnsureIPVS succeeded without net/ipv4/vs")
	}
}
