package sandbox

import (
	"reflect"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

func TestContainerNamespaces(t *testing.T) {
	tests := []struct {
		name string
		pod  SandboxSpec
		want map[configs.NamespaceType]string // type → path ("" = new)
	}{
		{
			name: "default pod",
			pod:  SandboxSpec{Name: "p"},
			want: map[configs.NamespaceType]string{
				configs.NEWNS: "", configs.NEWCGROUP: "", configs.NEWPID: "",
				configs.NEWNET: "/proc/42/ns/net", configs.NEWUTS: "/proc/42/ns/uts", configs.NEWIPC: "/proc/42/ns/ipc",
			},
		},
		{
			name: "shared process namespace",
			pod:  SandboxSpec{Name: "p", ShareProcessNamespace: true},
			want: map[configs.NamespaceType]string{
				configs.NEWNS: "", configs.NEWCGROUP: "", configs.NEWPID: "/proc/42/ns/pid",
				configs.NEWNET: "/proc/42/ns/net", configs.NEWUTS: "/proc/42/ns/uts", configs.NEWIPC: "/proc/42/ns/ipc",
			},
		},
		{
			name: "host network, ipc and pid",
			pod:  SandboxSpec{Name: "p", HostNetwork: true, HostIPC: true, HostPID: true, ShareProcessNamespace: true},
			want: map[configs.NamespaceType]string{configs.NEWNS: "", configs.NEWCGROUP: ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := containerSpec(ContainerSpec{Name: "c"}, tc.pod, 42, "/rootfs", "/bin/agent", "/kubepods/pod1/c")
			cfg, err := libcontainerConfig(spec, cgroup.Resources(translate.Resources{}))
			if err != nil {
				t.Fatal(err)
			}
			got := map[configs.NamespaceType]string{}
			for _, ns := range cfg.Namespaces {
				got[ns.Type] = ns.Path
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("namespaces = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSandboxNamespacesAndHostname(t *testing.T) {
	tests := []struct {
		name         string
		pod          SandboxSpec
		wantNS       []configs.NamespaceType
		wantHostname string
	}{
		{"default", SandboxSpec{Name: "web", Hostname: "h1"},
			[]configs.NamespaceType{configs.NEWNS, configs.NEWPID, configs.NEWNET, configs.NEWUTS, configs.NEWIPC}, "h1"},
		{"hostname defaults to name", SandboxSpec{Name: "web"},
			[]configs.NamespaceType{configs.NEWNS, configs.NEWPID, configs.NEWNET, configs.NEWUTS, configs.NEWIPC}, "web"},
		{"host network and ipc", SandboxSpec{Name: "web", Hostname: "h1", HostNetwork: true, HostIPC: true},
			[]configs.NamespaceType{configs.NEWNS, configs.NEWPID}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := libcontainerConfig(sandboxSpec(tc.pod, "/rootfs", "/bin/agent", "/kubepods/pod1/_sandbox"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []configs.NamespaceType
			for _, ns := range cfg.Namespaces {
				got = append(got, ns.Type)
			}
			if !reflect.DeepEqual(got, tc.wantNS) || cfg.Hostname != tc.wantHostname {
				t.Errorf("namespaces = %v hostname %q, want %v %q", got, cfg.Hostname, tc.wantNS, tc.wantHostname)
			}
		})
	}
}

func TestContainerConfig(t *testing.T) {
	spec := containerSpec(ContainerSpec{Name: "c", Mounts: []Mount{{Source: "/data", Destination: "/data", ReadOnly: true}},
		Security: translate.Security{Capabilities: translate.DefaultCapabilities}},
		SandboxSpec{Name: "p"}, 42, "/rootfs", "/bin/agent", "/kubepods/pod1/c")
	res := cgroup.Resources(translate.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryMax: 16 << 20})
	cfg, err := libcontainerConfig(spec, res)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Cgroups.Resources
	if r.SkipDevices || len(r.Devices) == 0 {
		t.Errorf("devices: skip=%v, %d rules; want an allow-list", r.SkipDevices, len(r.Devices))
	}
	if r.CpuShares != 512 || r.CpuQuota != 50000 || r.Memory != 16<<20 {
		t.Errorf("resources = shares %d quota %d memory %d", r.CpuShares, r.CpuQuota, r.Memory)
	}
	if cfg.Cgroups.Path != "/kubepods/pod1/c" {
		t.Errorf("cgroup path = %q", cfg.Cgroups.Path)
	}
	dests := map[string]int{}
	for _, m := range cfg.Mounts {
		dests[m.Destination] = m.Flags
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/.kubelet-lite/init", "/data"} {
		if _, ok := dests[d]; !ok {
			t.Errorf("no mount at %s", d)
		}
	}
	if len(cfg.Capabilities.Bounding) != 14 || cfg.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" {
		t.Errorf("capabilities = %v", cfg.Capabilities.Bounding)
	}
}

func TestOverlayOptions(t *testing.T) {
	tests := []struct {
		name    string
		layers  []string
		want    string
		wantErr bool
	}{
		{"one layer", []string{"/l/a"}, "lowerdir=/l/a,upperdir=/u,workdir=/w", false},
		{"lowest first becomes last", []string{"/l/a", "/l/b", "/l/c"}, "lowerdir=/l/c:/l/b:/l/a,upperdir=/u,workdir=/w", false},
		{"no layers", nil, "", true},
		{"colon in path", []string{"/l/a:b"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := overlayOptions(tc.layers, "/u", "/w")
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("overlayOptions = %q, %v; want %q, err %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestExitReasonAndOOMFile(t *testing.T) {
	tests := []struct {
		name string
		code int
		file string
		want string
	}{
		{"v2 oom kill", 137, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n", ReasonOOMKilled},
		{"v1 no oom", 0, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", ReasonCompleted},
		{"v1 error", 2, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", ReasonError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := keyedValue([]byte(tc.file), "oom_kill")
			if err != nil {
				t.Fatal(err)
			}
			if got := exitReason(tc.code, n); got != tc.want {
				t.Errorf("exitReason = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	if got := containerID("0f3c-11", "web", 2); got != "0f3c-11.web.2" {
		t.Errorf("containerID = %q", got)
	}
	for _, bad := range []types.UID{"", "a/b", "a.b", "../x"} {
		if validUID(bad) == nil {
			t.Errorf("uid %q accepted", bad)
		}
	}
	for _, bad := range []string{"", "Web", "a_b", "a.b", "-a"} {
		if validName(bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}
