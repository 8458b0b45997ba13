package network

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

func TestDefaultConfList(t *testing.T) {
	tests := []struct {
		name    string
		in      DefaultNetwork
		want    string
		wantErr bool
	}{
		{
			name: "one IPv4 range",
			in:   DefaultNetwork{PodCIDRs: []string{"10.244.1.0/24"}},
			want: `{
			  "cniVersion": "1.1.0",
			  "name": "kubelet-lite",
			  "plugins": [
			    {
			      "type": "bridge", "bridge": "cni0", "isGateway": true,
			      "ipMasq": true, "ipMasqBackend": "nftables", "hairpinMode": true,
			      "ipam": {
			        "type": "host-local",
			        "ranges": [[{"subnet": "10.244.1.0/24"}]],
			        "routes": [{"dst": "0.0.0.0/0"}]
			      }
			    },
			    {"type": "portmap", "backend": "nftables", "capabilities": {"portMappings": true}}
			  ]
			}`,
		},
		{
			name: "dual stack with a data dir",
			in:   DefaultNetwork{PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, IPAMDataDir: "/var/lib/x"},
			want: `{
			  "cniVersion": "1.1.0",
			  "name": "kubelet-lite",
			  "plugins": [
			    {
			      "type": "bridge", "bridge": "cni0", "isGateway": true,
			      "ipMasq": true, "ipMasqBackend": "nftables", "hairpinMode": true,
			      "ipam": {
			        "type": "host-local",
			        "ranges": [[{"subnet": "10.244.1.0/24"}], [{"subnet": "fd00:10:244:1::/64"}]],
			        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
			        "dataDir": "/var/lib/x"
			      }
			    },
			    {"type": "portmap", "backend": "nftables", "capabilities": {"portMappings": true}}
			  ]
			}`,
		},
		{name: "no CIDR", in: DefaultNetwork{}, wantErr: true},
		{name: "not a CIDR", in: DefaultNetwork{PodCIDRs: []string{"10.244.1.0"}}, wantErr: true},
		{name: "host bits set", in: DefaultNetwork{PodCIDRs: []string{"10.244.1.1/24"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DefaultConfList(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("DefaultConfList(%+v) = %s, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, got, tc.want)
			// libcni must read it back as the network the agent will run.
			list, err := libcni.NetworkConfFromBytes(got)
			if err != nil {
				t.Fatalf("libcni cannot load the default config: %v", err)
			}
			if list.Name != DefaultNetworkName || len(list.Plugins) != 2 ||
				list.Plugins[0].Network.Type != "bridge" || list.Plugins[1].Network.Type != "portmap" ||
				!list.Plugins[1].Network.Capabilities["portMappings"] {
				t.Errorf("libcni reads %+v", list)
			}
		})
	}
}

func assertSameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("got\n%s\nwant\n%s", gb, wb)
	}
}

func TestEnsureDefaultConfig(t *testing.T) {
	newManager := func(t *testing.T, confDir string) *Manager {
		m, err := New(Config{ConfDir: confDir, BinDirs: []string{t.TempDir()}, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("writes into a missing dir, once", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "net.d")
		m := newManager(t, dir)
		wrote, err := m.EnsureDefaultConfig("10.88.0.0/16")
		if err != nil || !wrote {
			t.Fatalf("EnsureDefaultConfig = %v, %v; want true, nil", wrote, err)
		}
		list, err := loadConfList(dir)
		if err != nil || list.Name != DefaultNetworkName {
			t.Fatalf("loadConfList = %+v, %v", list, err)
		}
		wrote, err = m.EnsureDefaultConfig("10.99.0.0/16")
		if err != nil || wrote {
			t.Fatalf("second EnsureDefaultConfig = %v, %v; want false, nil", wrote, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, DefaultConfFile))
		var conf struct {
			Plugins []struct {
				IPAM struct {
					Ranges [][]struct{ Subnet string }
				}
			}
		}
		if err := json.Unmarshal(b, &conf); err != nil || conf.Plugins[0].IPAM.Ranges[0][0].Subnet != "10.88.0.0/16" {
			t.Errorf("the first config must stay; file has %s", b)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("conf dir holds %d entries, want only %s", len(entries), DefaultConfFile)
		}
	})

	t.Run("leaves an operator's config alone", func(t *testing.T) {
		dir := t.TempDir()
		own := `{"cniVersion":"1.0.0","name":"mine","type":"bridge"}`
		if err := os.WriteFile(filepath.Join(dir, "10-mine.conf"), []byte(own), 0o644); err != nil {
			t.Fatal(err)
		}
		m := newManager(t, dir)
		if wrote, err := m.EnsureDefaultConfig("10.88.0.0/16"); err != nil || wrote {
			t.Fatalf("EnsureDefaultConfig = %v, %v; want false, nil", wrote, err)
		}
		list, err := loadConfList(dir)
		if err != nil || list.Name != "mine" || len(list.Plugins) != 1 {
			t.Fatalf("loadConfList = %+v, %v; want the .conf upconverted", list, err)
		}
	})

	t.Run("no config is ErrNoConfig", func(t *testing.T) {
		if _, err := loadConfList(t.TempDir()); !errors.Is(err, ErrNoConfig) {
			t.Fatalf("loadConfList of an empty dir = %v, want ErrNoConfig", err)
		}
	})
}

func TestStatusWithoutPlugins(t *testing.T) {
	m, err := New(Config{ConfDir: t.TempDir(), BinDirs: []string{t.TempDir()}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Status(context.Background()); !errors.Is(err, ErrNoConfig) {
		t.Errorf("Status with no config = %v, want ErrNoConfig", err)
	}
	if _, err := m.EnsureDefaultConfig("10.88.0.0/16"); err != nil {
		t.Fatal(err)
	}
	if err := m.Status(context.Background()); err == nil || !strings.Contains(err.Error(), `failed to find plugin "bridge"`) {
		t.Errorf("Status with no plugins = %v, want that bridge is not found", err)
	}
}
