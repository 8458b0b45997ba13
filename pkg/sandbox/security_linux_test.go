package sandbox

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// scRules prints a config's device cgroup rules as "type major:minor perms allow".
func scRules(cfg *configs.Config) []string {
	var out []string
	for _, d := range cfg.Cgroups.Resources.Devices {
		out = append(out, fmt.Sprintf("%c %d:%d %s %v", d.Type, d.Major, d.Minor, d.Permissions, d.Allow))
	}
	return out
}

// scMountRO reports whether cfg mounts dest read-only.
func scMountRO(t *testing.T, cfg *configs.Config, dest string) bool {
	t.Helper()
	for _, m := range cfg.Mounts {
		if m.Destination == dest {
			return m.Flags&unix.MS_RDONLY != 0
		}
	}
	t.Fatalf("no mount at %s", dest)
	return false
}

// runcDefaultDevices is runc's default allow-list (specconv.AllowedDevices)
// after a deny-all: mknod of any device; null, random, full, tty, zero,
// urandom; the pts and ptmx; tun.
var runcDefaultDevices = []string{
	"a -1:-1 rwm false", "c -1:-1 m true", "b -1:-1 m true",
	"c 1:3 rwm true", "c 1:8 rwm true", "c 1:7 rwm true", "c 5:0 rwm true", "c 1:5 rwm true", "c 1:9 rwm true",
	"c 136:-1 rwm true", "c 5:2 rwm true", "c 10:200 rwm true",
}

func TestSCContainerSecurity(t *testing.T) {
	tests := []struct {
		name          string
		sec           translate.Security
		wantMasked    []string
		wantReadonly  []string
		wantRootRO    bool
		wantNoNewPriv bool
		wantSysRO     bool
		wantDevices   []string
	}{
		{"default", translate.Security{Capabilities: translate.DefaultCapabilities},
			maskedPaths, readonlyPaths, false, false, true, runcDefaultDevices},
		{"read-only rootfs and no_new_privs", translate.Security{ReadOnlyRootfs: true, NoNewPrivileges: true},
			maskedPaths, readonlyPaths, true, true, true, runcDefaultDevices},
		{"unmasked proc", translate.Security{UnmaskedProc: true},
			nil, nil, false, false, true, runcDefaultDevices},
		{"privileged", translate.Security{Privileged: true, Capabilities: []string{"CAP_SYS_ADMIN"}},
			nil, nil, false, false, false, append([]string{"a -1:-1 rwm true"}, runcDefaultDevices[1:]...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := containerSpec(ContainerSpec{Name: "c", Security: tc.sec}, SandboxSpec{Name: "p"}, 42, "/rootfs", "/bin/agent", "/kubepods/pod1/c")
			cfg, err := libcontainerConfig(spec, cgroup.Resources(translate.Resources{}))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.MaskPaths, tc.wantMasked) || !slices.Equal(cfg.ReadonlyPaths, tc.wantReadonly) {
				t.Errorf("masked %v, read-only %v; want %v, %v", cfg.MaskPaths, cfg.ReadonlyPaths, tc.wantMasked, tc.wantReadonly)
			}
			if cfg.Readonlyfs != tc.wantRootRO || cfg.NoNewPrivileges != tc.wantNoNewPriv {
				t.Errorf("read-only rootfs %v, no_new_privs %v; want %v, %v", cfg.Readonlyfs, cfg.NoNewPrivileges, tc.wantRootRO, tc.wantNoNewPriv)
			}
			if ro := scMountRO(t, cfg, "/sys"); ro != tc.wantSysRO || scMountRO(t, cfg, "/sys/fs/cgroup") != tc.wantSysRO {
				t.Errorf("/sys read-only %v, want %v", ro, tc.wantSysRO)
			}
			if got := scRules(cfg); !reflect.DeepEqual(got, tc.wantDevices) {
				t.Errorf("devices = %q\nwant %q", got, tc.wantDevices)
			}
			if caps := cfg.Capabilities; !slices.Equal(caps.Bounding, tc.sec.Capabilities) ||
				!slices.Equal(caps.Effective, tc.sec.Capabilities) || !slices.Equal(caps.Permitted, tc.sec.Capabilities) || len(caps.Ambient)+len(caps.Inheritable) > 0 {
				t.Errorf("capabilities = %+v, want %v in bounding, effective and permitted only", caps, tc.sec.Capabilities)
			}
		})
	}
}

func TestSCDefaultsAreContainerds(t *testing.T) {
	wantMasked := []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	wantRO := []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	if !slices.Equal(maskedPaths, wantMasked) || !slices.Equal(readonlyPaths, wantRO) {
		t.Errorf("masked %v, read-only %v", maskedPaths, readonlyPaths)
	}
}

func TestSCSandboxSysctls(t *testing.T) {
	want := map[string]string{"net.ipv4.ip_local_port_range": "1024 2048", "kernel.shm_rmid_forced": "1"}
	cfg, err := libcontainerConfig(sandboxSpec(SandboxSpec{Name: "p", Sysctls: want}, "/rootfs", "/bin/agent", "/kubepods/pod1/_sandbox"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Sysctl, want) {
		t.Errorf("sysctls = %v, want %v", cfg.Sysctl, want)
	}
}
