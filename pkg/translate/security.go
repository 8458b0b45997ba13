package translate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	corev1 "k8s.io/api/core/v1"
)

// DefaultCapabilities is containerd's default capability set of a
// container: what it has when its securityContext adds and drops none.
var DefaultCapabilities = []string{
	"CAP_AUDIT_WRITE",
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_MKNOD",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_RAW",
	"CAP_SETFCAP",
	"CAP_SETGID",
	"CAP_SETPCAP",
	"CAP_SETUID",
	"CAP_SYS_CHROOT",
}

// Security is how one container is confined, from its securityContext and
// its pod's, as the kubelet with containerd and runc confines it.
type Security struct {
	// Privileged containers get every capability and host device, no
	// masked or read-only paths, and writable /sys and cgroupfs.
	Privileged bool
	// Capabilities are the bounding, effective and permitted sets, as
	// sorted "CAP_" names.
	Capabilities []string
	// NoNewPrivileges sets no_new_privs: only with allowPrivilegeEscalation
	// explicitly false, as upstream.
	NoNewPrivileges bool
	// ReadOnlyRootfs mounts the container's root filesystem read-only.
	ReadOnlyRootfs bool
	// UnmaskedProc (procMount Unmasked) leaves /proc and /sys without the
	// masked and read-only paths.
	UnmaskedProc bool
}

// ContainerSecurity is c's Security on a node that allows p. It fails for
// a capability name the kernel interfaces do not know, or one the node
// cannot give, rather than run without it.
func (p SecurityPolicy) ContainerSecurity(c *corev1.Container) (Security, error) {
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	s := Security{
		Privileged:      isTrue(sc.Privileged),
		NoNewPrivileges: sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		ReadOnlyRootfs:  isTrue(sc.ReadOnlyRootFilesystem),
		UnmaskedProc:    sc.ProcMount != nil && *sc.ProcMount == corev1.UnmaskedProcMount,
	}
	if s.Privileged {
		s.Capabilities = p.allCapabilities()
		s.NoNewPrivileges = false
		return s, nil
	}
	caps, err := p.capabilities(sc.Capabilities)
	if err != nil {
		return Security{}, fmt.Errorf("container %q: %w", c.Name, err)
	}
	s.Capabilities = caps
	return s, nil
}

// capabilities applies add and drop to the default set in containerd's
// order: add ALL, drop ALL, then the single adds, then the single drops.
// Names are case-insensitive, with or without "CAP_".
func (p SecurityPolicy) capabilities(c *corev1.Capabilities) ([]string, error) {
	set := slices.Clone(DefaultCapabilities)
	if c == nil {
		return set, nil
	}
	var add, drop []string
	for _, list := range []struct {
		in  []corev1.Capability
		out *[]string
	}{{c.Add, &add}, {c.Drop, &drop}} {
		for _, name := range list.in {
			n, err := capName(string(name))
			if err != nil {
				return nil, err
			}
			*list.out = append(*list.out, n)
		}
	}
	all := p.allCapabilities()
	if slices.Contains(add, "ALL") {
		set = all
	}
	if slices.Contains(drop, "ALL") {
		set = nil
	}
	for _, n := range add {
		if n != "ALL" && !slices.Contains(set, n) {
			if !slices.Contains(all, n) {
				return nil, fmt.Errorf("capability %s is not in the node's bounding set", n)
			}
			set = append(set, n)
		}
	}
	set = slices.DeleteFunc(set, func(n string) bool { return slices.Contains(drop, n) })
	slices.Sort(set)
	return set, nil
}

// capName is name as "CAP_X", or "ALL".
func capName(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for _, c := range capability.ListKnown() {
		if "CAP_"+strings.ToUpper(c.String()) == n {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown capability %q", name)
}

// allCapabilities is what "ALL" and privileged give: the node's
// capabilities, as containerd gives its own.
func (p SecurityPolicy) allCapabilities() []string {
	if p.Capabilities != nil {
		return slices.Sorted(slices.Values(p.Capabilities))
	}
	return KnownCapabilities()
}

// KnownCapabilities is every capability the library knows, sorted; runc
// leaves out those the running kernel lacks.
func KnownCapabilities() []string {
	var all []string
	for _, c := range capability.ListKnown() {
		all = append(all, "CAP_"+strings.ToUpper(c.String()))
	}
	slices.Sort(all)
	return all
}

func isTrue(b *bool) bool { return b != nil && *b }
