package podworker

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// MACHost is what the node's kernel enforces of mandatory access control.
type MACHost struct {
	// AppArmor is set when the kernel has AppArmor enabled.
	AppArmor bool
	// AppArmorProfiles are the names of the AppArmor profiles loaded in
	// the kernel; only read when AppArmor is set.
	AppArmorProfiles map[string]bool
	// SELinux is set when the kernel has SELinux enabled.
	SELinux bool
}

// runtimeDefaultAppArmor is the profile a RuntimeDefault container runs
// under: containerd's name, so a node whose containerd loaded it serves
// both. kubelet-lite loads no profile of its own.
const runtimeDefaultAppArmor = "cri-containerd.apparmor.d"

// Deprecated AppArmor annotation of a container, and its values.
const (
	appArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"
	appArmorRuntimeDefault   = "runtime/default"
	appArmorLocalhostPrefix  = "localhost/"
	appArmorUnconfined       = "unconfined"
)

// appArmorProfile is the AppArmor profile c asks for, as upstream resolves
// it: the container's field, else the deprecated annotation, else the
// pod's field; nil when none is asked for.
func appArmorProfile(pod *corev1.Pod, c *corev1.Container) *corev1.AppArmorProfile {
	if sc := c.SecurityContext; sc != nil && sc.AppArmorProfile != nil {
		return sc.AppArmorProfile
	}
	if v, ok := pod.Annotations[appArmorAnnotationPrefix+c.Name]; ok {
		switch {
		case v == appArmorRuntimeDefault:
			return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
		case v == appArmorUnconfined:
			return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		case strings.HasPrefix(v, appArmorLocalhostPrefix):
			name := strings.TrimPrefix(v, appArmorLocalhostPrefix)
			return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: &name}
		}
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.AppArmorProfile != nil {
		return sc.AppArmorProfile
	}
	return nil
}

// appArmorName is the name of the kernel profile a container runs under:
// "" for none (unconfined, or nothing asked for).
func appArmorName(p *corev1.AppArmorProfile) string {
	switch {
	case p == nil || p.Type == corev1.AppArmorProfileTypeUnconfined:
		return ""
	case p.Type == corev1.AppArmorProfileTypeRuntimeDefault:
		return runtimeDefaultAppArmor
	case p.LocalhostProfile != nil:
		return strings.TrimSpace(*p.LocalhostProfile)
	}
	return ""
}

// admitMAC refuses a pod whose mandatory access control the node cannot
// enforce, as upstream's AppArmor admit handler does (reason "AppArmor",
// "Cannot enforce AppArmor: ..."): a container that asks for an AppArmor
// profile other than Unconfined needs AppArmor in the kernel and, here,
// the profile loaded (upstream's runtime refuses it later instead). It is
// never run unconfined.
//
// seLinuxOptions on a node without SELinux are ignored, as upstream
// (containerd's label.InitLabels gives no label when SELinux is off). On a
// node with SELinux they are refused: kubelet-lite does not label
// processes and mounts, and a pod asking for a label must not run without.
func admitMAC(pod *corev1.Pod, host MACHost) *rejection {
	for _, c := range allContainers(pod) {
		p := appArmorProfile(pod, &c)
		if p == nil || p.Type == corev1.AppArmorProfileTypeUnconfined {
			continue
		}
		name := appArmorName(p)
		var why string
		switch {
		case !host.AppArmor:
			why = "AppArmor is not enabled on the host"
		case name == "":
			why = fmt.Sprintf("invalid empty AppArmor profile name for container %q", c.Name)
		case !host.AppArmorProfiles[name]:
			why = fmt.Sprintf("profile %q is not loaded", name)
		}
		if why != "" {
			return &rejection{Reason: "AppArmor", Message: "Cannot enforce AppArmor: " + why}
		}
	}
	if host.SELinux && wantsSELinux(pod) {
		return &rejection{Reason: "SELinux", Message: "Cannot enforce SELinux: kubelet-lite does not apply seLinuxOptions on a host with SELinux enabled"}
	}
	return nil
}

// wantsSELinux says whether the pod or one of its containers sets
// seLinuxOptions.
func wantsSELinux(pod *corev1.Pod) bool {
	if sc := pod.Spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
		return true
	}
	for _, c := range allContainers(pod) {
		if sc := c.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
			return true
		}
	}
	return false
}
