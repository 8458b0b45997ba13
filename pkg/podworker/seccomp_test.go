package podworker

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

func TestSeccompProfile(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "audit.json"), []byte(`{"defaultAction": "SCMP_ACT_LOG"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := func(typ corev1.SeccompProfileType, local ...string) *corev1.SeccompProfile {
		p := &corev1.SeccompProfile{Type: typ}
		if len(local) > 0 {
			p.LocalhostProfile = &local[0]
		}
		return p
	}
	pod := func(podLevel, ctrLevel *corev1.SeccompProfile) (*corev1.Pod, *corev1.Container) {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
		if podLevel != nil {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: podLevel}
		}
		if ctrLevel != nil {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: ctrLevel}
		}
		return p, &p.Spec.Containers[0]
	}
	on, off := Seccomp{ProfileRoot: root, Default: true}, Seccomp{ProfileRoot: root}
	tests := []struct {
		name          string
		podLevel, ctr *corev1.SeccompProfile
		node          Seccomp
		want          sandbox.SeccompType
		wantErr       bool
	}{
		{name: "none asked, --seccomp-default", node: on, want: sandbox.SeccompRuntimeDefault},
		{name: "none asked, --seccomp-default=false", node: off, want: sandbox.SeccompUnconfined},
		{name: "pod RuntimeDefault", podLevel: profile(corev1.SeccompProfileTypeRuntimeDefault), node: off, want: sandbox.SeccompRuntimeDefault},
		{name: "pod Unconfined", podLevel: profile(corev1.SeccompProfileTypeUnconfined), node: on, want: sandbox.SeccompUnconfined},
		{name: "container Unconfined beats pod RuntimeDefault", podLevel: profile(corev1.SeccompProfileTypeRuntimeDefault),
			ctr: profile(corev1.SeccompProfileTypeUnconfined), node: on, want: sandbox.SeccompUnconfined},
		{name: "container RuntimeDefault beats pod Localhost", podLevel: profile(corev1.SeccompProfileTypeLocalhost, "audit.json"),
			ctr: profile(corev1.SeccompProfileTypeRuntimeDefault), node: off, want: sandbox.SeccompRuntimeDefault},
		{name: "pod Localhost", podLevel: profile(corev1.SeccompProfileTypeLocalhost, "audit.json"), node: on, want: sandbox.SeccompLocalhost},
		{name: "container Localhost", ctr: profile(corev1.SeccompProfileTypeLocalhost, "audit.json"), node: off, want: sandbox.SeccompLocalhost},
		{name: "Localhost missing", ctr: profile(corev1.SeccompProfileTypeLocalhost, "missing.json"), node: on, wantErr: true},
		{name: "Localhost without a name", ctr: profile(corev1.SeccompProfileTypeLocalhost), node: on, wantErr: true},
		{name: "Localhost outside the root", ctr: profile(corev1.SeccompProfileTypeLocalhost, "../audit.json"), node: on, wantErr: true},
		{name: "unknown type", ctr: profile("Bogus"), node: on, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, c := pod(tc.podLevel, tc.ctr)
			got, err := seccompProfile(p, c, tc.node)
			if tc.wantErr {
				if !errors.Is(err, sandbox.ErrSeccompProfile) {
					t.Fatalf("got %+v, %v; want an ErrSeccompProfile", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tc.want {
				t.Errorf("type %q, want %q", got.Type, tc.want)
			}
			if loaded := got.Profile != nil; loaded != (tc.want == sandbox.SeccompLocalhost) {
				t.Errorf("profile %+v loaded for type %q", got.Profile, got.Type)
			} else if loaded && got.Profile.DefaultAction != "SCMP_ACT_LOG" {
				t.Errorf("profile %+v, want audit.json's", got.Profile)
			}
		})
	}
}
