package node_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubelet-lite/kubelet-lite/pkg/node"
)

func TestNewRejectsBadConfig(t *testing.T) {
	valid := func() node.Config {
		return node.Config{Client: fake.NewClientset(), NodeName: "node-a", RootDir: "/var/lib/kubelet-lite"}
	}
	tests := []struct {
		name    string
		mutate  func(*node.Config)
		wantErr string // "" means New succeeds
	}{
		{name: "minimal config", mutate: func(*node.Config) {}},
		{name: "no client", mutate: func(c *node.Config) { c.Client = nil }, wantErr: "no client"},
		{name: "no node name", mutate: func(c *node.Config) { c.NodeName = "" }, wantErr: `node name ""`},
		{name: "upper-case node name", mutate: func(c *node.Config) { c.NodeName = "Node-A" }, wantErr: `node name "Node-A"`},
		{name: "no root dir", mutate: func(c *node.Config) { c.RootDir = "" }, wantErr: "no root dir"},
		{name: "cgroup v3", mutate: func(c *node.Config) { c.CgroupVersion = "v3" }, wantErr: `cgroup version "v3"`},
		{name: "port out of range", mutate: func(c *node.Config) { c.KubeletPort = 70000 }, wantErr: "kubelet port 70000"},
		{name: "lease under a second", mutate: func(c *node.Config) { c.LeaseDuration = time.Millisecond }, wantErr: "lease duration 1ms"},
		{name: "negative interval", mutate: func(c *node.Config) { c.StatusInterval = -time.Second }, wantErr: "negative interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.mutate(&cfg)
			_, err := node.New(cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
