package podworker

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// Seccomp is the node's seccomp policy.
type Seccomp struct {
	// ProfileRoot holds the Localhost profiles (--seccomp-profile-root).
	ProfileRoot string
	// Default makes RuntimeDefault the profile of containers whose pod
	// asks for none (--seccomp-default); without it they run Unconfined.
	Default bool
}

// seccompProfile is c's seccomp profile: its own securityContext's, else
// the pod's, else the node's default; a Localhost profile is read from the
// profile root.
func seccompProfile(pod *corev1.Pod, c *corev1.Container, node Seccomp) (sandbox.Seccomp, error) {
	var want *corev1.SeccompProfile
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		want = c.SecurityContext.SeccompProfile
	} else if sc := pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		want = sc.SeccompProfile
	}
	if want == nil {
		if node.Default {
			return sandbox.Seccomp{Type: sandbox.SeccompRuntimeDefault}, nil
		}
		return sandbox.Seccomp{Type: sandbox.SeccompUnconfined}, nil
	}
	switch want.Type {
	case corev1.SeccompProfileTypeUnconfined:
		return sandbox.Seccomp{Type: sandbox.SeccompUnconfined}, nil
	case corev1.SeccompProfileTypeRuntimeDefault:
		return sandbox.Seccomp{Type: sandbox.SeccompRuntimeDefault}, nil
	case corev1.SeccompProfileTypeLocalhost:
		rel := ""
		if want.LocalhostProfile != nil {
			rel = *want.LocalhostProfile
		}
		p, err := sandbox.LoadSeccompProfile(node.ProfileRoot, rel)
		if err != nil {
			return sandbox.Seccomp{}, fmt.Errorf("container %q: %w", c.Name, err)
		}
		return sandbox.Seccomp{Type: sandbox.SeccompLocalhost, Profile: p}, nil
	default:
		return sandbox.Seccomp{}, fmt.Errorf("container %q: %w: unknown type %q", c.Name, sandbox.ErrSeccompProfile, want.Type)
	}
}
