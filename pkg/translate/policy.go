package translate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/node/util/sysctl"
)

// SecurityPolicy is what the node allows pods beyond the defaults.
type SecurityPolicy struct {
	// AllowPrivileged admits privileged containers (--allow-privileged).
	AllowPrivileged bool
	// UnsafeSysctls are the --allowed-unsafe-sysctls: names, or prefixes
	// ending in "*", of namespaced sysctls allowed besides the safe ones.
	UnsafeSysctls []string
	// Capabilities are the node's ("CAP_" names: the agent's bounding
	// set), what "ALL" and privileged give; nil means KnownCapabilities.
	Capabilities []string
}

// Refusal is why the node refuses a pod, in the kubelet's words: the
// reason becomes the pod's status reason and the event's.
type Refusal struct {
	Reason, Message string
}

// ReasonSysctlForbidden is upstream's reason for a pod with a sysctl the
// node does not allow.
const ReasonSysctlForbidden = "SysctlForbidden"

// ReasonForbidden is upstream's reason for a pod the node's security
// settings refuse (a privileged container without --allow-privileged).
const ReasonForbidden = "Forbidden"

// SafeSysctls are the sysctls upstream allows every pod: namespaced, and
// unable to affect other pods or the node.
var SafeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
}

// sysctlName is upstream's validation of a sysctl name (dots or slashes).
var sysctlName = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

// ValidateUnsafeSysctls checks --allowed-unsafe-sysctls as upstream does:
// each a name or a prefix ending in "*", of a sysctl known to be namespaced.
func ValidateUnsafeSysctls(patterns []string) error {
	for _, p := range patterns {
		name := strings.TrimSuffix(p, "*")
		if strings.Contains(name, "*") || name == "" {
			return fmt.Errorf("sysctl pattern %q: a \"*\" may only end a prefix such as net.ipv4.*", p)
		}
		ns, _, _ := sysctl.GetNamespace(p)
		if ns == sysctl.UnknownNamespace {
			return fmt.Errorf("sysctl %q is not known to be namespaced", p)
		}
	}
	return nil
}

// Check refuses pod when it asks for what p does not allow, or for a
// combination upstream's validation forbids; nil admits it.
func (p SecurityPolicy) Check(pod *corev1.Pod) *Refusal {
	for _, list := range []struct {
		kind       string
		containers []corev1.Container
	}{{"container", pod.Spec.Containers}, {"init container", pod.Spec.InitContainers}} {
		for i := range list.containers {
			c := &list.containers[i]
			sc := c.SecurityContext
			if sc == nil {
				continue
			}
			if isTrue(sc.Privileged) && !p.AllowPrivileged {
				return &Refusal{Reason: ReasonForbidden, Message: fmt.Sprintf(
					"pod with UID %q specified privileged %s, but is disallowed", pod.UID, list.kind)}
			}
			if msg := invalidSecurity(pod, c); msg != "" {
				return &Refusal{Reason: ReasonForbidden, Message: fmt.Sprintf("%s %q: %s", list.kind, c.Name, msg)}
			}
		}
	}
	if pod.Spec.SecurityContext == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		name := sysctl.NormalizeName(s.Name)
		if seen[name] {
			return &Refusal{Reason: ReasonSysctlForbidden, Message: fmt.Sprintf("forbidden sysctl: %q given twice", s.Name)}
		}
		seen[name] = true
		if err := p.checkSysctl(name, pod.Spec.HostNetwork, pod.Spec.HostIPC); err != nil {
			return &Refusal{Reason: ReasonSysctlForbidden, Message: "forbidden sysctl: " + err.Error()}
		}
	}
	return nil
}

// invalidSecurity says what upstream's API validation refuses in c's
// securityContext, or "".
func invalidSecurity(pod *corev1.Pod, c *corev1.Container) string {
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if isTrue(sc.Privileged) {
			return "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
		}
		if sc.Capabilities != nil && slices.ContainsFunc(sc.Capabilities.Add, func(c corev1.Capability) bool {
			n, _ := capName(string(c))
			return n == "CAP_SYS_ADMIN"
		}) {
			return "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"
		}
	}
	if sc.ProcMount != nil {
		switch *sc.ProcMount {
		case corev1.DefaultProcMount:
		case corev1.UnmaskedProcMount:
			if pod.Spec.HostUsers == nil || *pod.Spec.HostUsers {
				return "procMount: `hostUsers` must be false to use `Unmasked`"
			}
		default:
			return fmt.Sprintf("procMount: unsupported value %q: want Default or Unmasked", *sc.ProcMount)
		}
	}
	return ""
}

// checkSysctl allows a safe or allowed-unsafe sysctl, except one of the
// host's namespace (net.* with hostNetwork, IPC ones with hostIPC).
func (p SecurityPolicy) checkSysctl(name string, hostNet, hostIPC bool) error {
	if !sysctlName.MatchString(name) {
		return fmt.Errorf("%q is not a valid sysctl name", name)
	}
	ns, _, _ := sysctl.GetNamespace(name)
	if (ns == sysctl.NetNamespace && hostNet) || (ns == sysctl.IPCNamespace && hostIPC) {
		return fmt.Errorf("%q not allowed with host %s enabled", name, strings.ToLower(string(ns)))
	}
	if slices.Contains(SafeSysctls, name) {
		return nil
	}
	for _, pat := range p.UnsafeSysctls {
		pat = sysctl.NormalizeName(pat)
		if prefix, ok := strings.CutSuffix(pat, "*"); ok && strings.HasPrefix(name, prefix) || pat == name {
			if ns == sysctl.UnknownNamespace {
				return fmt.Errorf("%q is not known to be namespaced", name)
			}
			return nil
		}
	}
	return fmt.Errorf("%q not allowlisted", name)
}

// Sysctls are the pod's sysctls as the kernel names them, for its
// sandbox's namespaces; nil when it sets none.
func Sysctls(pod *corev1.Pod) map[string]string {
	if pod.Spec.SecurityContext == nil || len(pod.Spec.SecurityContext.Sysctls) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		out[sysctl.NormalizeName(s.Name)] = s.Value
	}
	return out
}
