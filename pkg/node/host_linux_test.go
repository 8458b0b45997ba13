package node_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/node"
)

// writeTree writes files (path → content) below a new temporary root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestHostInfo(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  node.Info
	}{
		{
			name: "all files",
			files: map[string]string{
				"etc/machine-id":                 "0123456789abcdef0123456789abcdef\n",
				"sys/class/dmi/id/product_uuid":  "4c4c4544-0042-3510-8052-b3c04f4e3132\n",
				"proc/sys/kernel/random/boot_id": "9f1b9a4e-6f56-4c6b-9b1a-2f7e9d0c1a2b\n",
				"proc/sys/kernel/osrelease":      "6.1.0-43-amd64\n",
				"etc/os-release":                 "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
				"var/lib/dbus/machine-id":        "not-this-one\n",
				"usr/lib/os-release":             "PRETTY_NAME=\"not this one\"\n",
			},
			want: node.Info{
				MachineID: "0123456789abcdef0123456789abcdef", SystemUUID: "4c4c4544-0042-3510-8052-b3c04f4e3132",
				BootID: "9f1b9a4e-6f56-4c6b-9b1a-2f7e9d0c1a2b", KernelVersion: "6.1.0-43-amd64",
				OSImage: "Debian GNU/Linux 12 (bookworm)",
			},
		},
		{
			name: "fallbacks: dbus machine-id, no dmi, unquoted usr/lib/os-release",
			files: map[string]string{
				"var/lib/dbus/machine-id":        "fedcba\n",
				"proc/sys/kernel/random/boot_id": "b\n",
				"proc/sys/kernel/osrelease":      "6.12.0\n",
				"usr/lib/os-release":             "PRETTY_NAME=Alpine\n",
			},
			want: node.Info{MachineID: "fedcba", BootID: "b", KernelVersion: "6.12.0", OSImage: "Alpine"},
		},
		{
			name:  "nothing known",
			files: map[string]string{},
			want:  node.Info{OSImage: "Linux"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := node.Host{Root: writeTree(t, tc.files)}.Info()
			if err != nil {
				t.Fatal(err)
			}
			tc.want.NumCPU = runtime.NumCPU()
			if got != tc.want {
				t.Errorf("Info() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHostMemory(t *testing.T) {
	tests := []struct {
		name    string
		meminfo string
		want    node.Memory
		wantErr string
	}{
		{
			name:    "kB values",
			meminfo: "MemTotal:       24626312 kB\nMemFree:        1000 kB\nMemAvailable:   20123456 kB\n",
			want:    node.Memory{Total: 25217343488, Available: 20606418944},
		},
		{
			name:    "no MemAvailable",
			meminfo: "MemTotal:       1024 kB\n",
			wantErr: "meminfo has no MemTotal or MemAvailable",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := node.Host{Root: writeTree(t, map[string]string{"proc/meminfo": tc.meminfo})}.Memory()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Memory() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestHostPIDs(t *testing.T) {
	tests := []struct {
		name                  string
		loadavg, max, threads string
		want                  node.PIDs
	}{
		{name: "pid_max is lower", loadavg: "0.52 0.58 0.59 3/467 12345\n", max: "32768\n", threads: "191842\n", want: node.PIDs{Running: 467, Max: 32768}},
		{name: "threads-max is lower", loadavg: "0.00 0.01 0.05 1/80 99\n", max: "4194304\n", threads: "15000\n", want: node.PIDs{Running: 80, Max: 15000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{
				"proc/loadavg": tc.loadavg, "proc/sys/kernel/pid_max": tc.max, "proc/sys/kernel/threads-max": tc.threads,
			})
			got, err := node.Host{Root: root}.PIDs()
			if err != nil || got != tc.want {
				t.Errorf("PIDs() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestHostReadsThisMachine checks that the real files parse here.
func TestHostReadsThisMachine(t *testing.T) {
	h := node.Host{}
	info, err := h.Info()
	if err != nil || info.BootID == "" || info.KernelVersion == "" || info.NumCPU < 1 {
		t.Errorf("Info() = %+v, %v", info, err)
	}
	mem, err := h.Memory()
	if err != nil || mem.Total == 0 || mem.Available > mem.Total {
		t.Errorf("Memory() = %+v, %v", mem, err)
	}
	fs, err := h.Filesystem(t.TempDir())
	if err != nil || fs.Capacity == 0 || fs.Available > fs.Capacity {
		t.Errorf("Filesystem() = %+v, %v", fs, err)
	}
	if _, err := h.Filesystem(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Filesystem of a missing path succeeded")
	}
	pids, err := h.PIDs()
	if err != nil || pids.Running == 0 || pids.Max < pids.Running {
		t.Errorf("PIDs() = %+v, %v", pids, err)
	}
}
