package sandbox

import (
	"fmt"
	"path"
	"slices"
	"strconv"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubelet-lite/kubelet-lite/pkg/pid1"
)

// maskedPaths and readonlyPaths are containerd's defaults.
var (
	maskedPaths = []string{
		"/proc/acpi",
		"/proc/asound",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
)

var (
	procMount = specs.Mount{Destination: "/proc", Type: "proc", Source: "proc",
		Options: []string{"nosuid", "noexec", "nodev"}}
	devMount = specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}}
	// standardMounts are the mounts of every app container, as containerd
	// gives them.
	standardMounts = []specs.Mount{
		procMount,
		devMount,
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
			Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs",
			Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
			Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
)

// binaryMount bind-mounts the agent binary read-only at pid1.Path.
func binaryMount(binary string) specs.Mount {
	return specs.Mount{Destination: pid1.Path, Type: "bind", Source: binary,
		Options: []string{"rbind", "ro", "nosuid", "nodev"}}
}

// nsPath is the path of a namespace of a process.
func nsPath(pid int, ns string) string {
	return path.Join("/proc", strconv.Itoa(pid), "ns", ns)
}

// sandboxSpec is the OCI spec of a pod's sandbox: pause in new PID and MNT
// namespaces, plus new NET, IPC and UTS namespaces unless the pod uses the
// host's.
func sandboxSpec(s SandboxSpec, rootfs, binary, cgroupPath string) *specs.Spec {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}}
	hostname := ""
	if !s.HostNetwork {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace},
			specs.LinuxNamespace{Type: specs.UTSNamespace})
		hostname = s.Hostname
		if hostname == "" {
			hostname = s.Name
		}
	}
	if !s.HostIPC {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	return &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: rootfs, Readonly: true},
		Hostname: hostname,
		Process: &specs.Process{
			Cwd:             "/",
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{},
		},
		Mounts: []specs.Mount{procMount, devMount, binaryMount(binary)},
		Linux: &specs.Linux{
			CgroupsPath:   cgroupPath,
			Namespaces:    ns,
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Resources:     &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Sysctl:        s.Sysctls,
		},
	}
}

// containerSpec is the OCI spec of an app container: it joins the
// sandbox's NET, IPC and UTS namespaces (unless the pod uses the host's),
// and has its own MNT, CGROUP and PID namespaces (it joins the sandbox's PID
// namespace with ShareProcessNamespace, and none with HostPID).
func containerSpec(c ContainerSpec, pod SandboxSpec, sandboxPID int, rootfs, binary, cgroupPath string) *specs.Spec {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace}}
	switch {
	case pod.HostPID:
	case pod.ShareProcessNamespace:
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: nsPath(sandboxPID, "pid")})
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	if !pod.HostNetwork {
		ns = append(ns,
			specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath(sandboxPID, "net")},
			specs.LinuxNamespace{Type: specs.UTSNamespace, Path: nsPath(sandboxPID, "uts")})
	}
	if !pod.HostIPC {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: nsPath(sandboxPID, "ipc")})
	}
	mounts := append([]specs.Mount{}, standardMounts...)
	mounts = append(mounts, binaryMount(binary))
	for _, m := range c.Mounts {
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}
	sec := c.Security
	caps := slices.Clone(sec.Capabilities)
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: sec.ReadOnlyRootfs},
		Process: &specs.Process{
			Cwd:             "/",
			NoNewPrivileges: sec.NoNewPrivileges,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
		},
		Mounts: mounts,
		Linux: &specs.Linux{
			CgroupsPath:   cgroupPath,
			Namespaces:    ns,
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Resources:     &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		},
	}
	if sec.Privileged || sec.UnmaskedProc {
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
	}
	if sec.Privileged {
		privileged(spec)
	}
	return spec
}

// privileged opens spec up as containerd does for a privileged container:
// /sys and cgroupfs writable, every device allowed (the host's device
// nodes are added by the caller, which reads /dev).
func privileged(spec *specs.Spec) {
	for i, m := range spec.Mounts {
		if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
			spec.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
		}
	}
	spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
}

// libcontainerConfig converts an OCI spec with specconv and sets the cgroup
// values res (nil: none), keeping specconv's device allow-list.
func libcontainerConfig(spec *specs.Spec, res *cgroups.Resources) (*configs.Config, error) {
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{Spec: spec, NoNewKeyring: true})
	if err != nil {
		return nil, fmt.Errorf("convert oci spec: %w", err)
	}
	if res != nil {
		merged := *res
		merged.Devices = cfg.Cgroups.Resources.Devices
		merged.SkipDevices = false
		cfg.Cgroups.Resources = &merged
	}
	return cfg, nil
}
