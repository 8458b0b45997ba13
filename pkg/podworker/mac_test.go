package podworker

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestAdmitMAC(t *testing.T) {
	profile := func(typ corev1.AppArmorProfileType, name string) *corev1.AppArmorProfile {
		p := &corev1.AppArmorProfile{Type: typ}
		if name != "" {
			p.LocalhostProfile = &name
		}
		return p
	}
	// pod has one container "app" with the given container-level profile,
	// the pod-level one, and annotations.
	pod := func(ctr, pd *corev1.AppArmorProfile, annotations map[string]string) *corev1.Pod {
		p := &corev1.Pod{}
		p.Annotations = annotations
		p.Spec.Containers = []corev1.Container{{Name: "app"}}
		if ctr != nil {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AppArmorProfile: ctr}
		}
		if pd != nil {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{AppArmorProfile: pd}
		}
		return p
	}
	seLinux := &corev1.Pod{Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Level: "s0:c1,c2"}},
		Containers:      []corev1.Container{{Name: "app"}},
	}}
	none := MACHost{}
	withAA := MACHost{AppArmor: true, AppArmorProfiles: map[string]bool{"k8s-deny-write": true, runtimeDefaultAppArmor: true}}
	withAANoDefault := MACHost{AppArmor: true, AppArmorProfiles: map[string]bool{"k8s-deny-write": true}}
	cases := []struct {
		name    string
		pod     *corev1.Pod
		host    MACHost
		reason  string // "" = admitted
		message string
		// profile is the name the container runs under when admitted.
		profile string
	}{
		{"nothing asked, no AppArmor", pod(nil, nil, nil), none, "", "", ""},
		{"Unconfined, no AppArmor", pod(profile(corev1.AppArmorProfileTypeUnconfined, ""), nil, nil), none, "", "", ""},
		{"RuntimeDefault, no AppArmor", pod(profile(corev1.AppArmorProfileTypeRuntimeDefault, ""), nil, nil), none,
			"AppArmor", "Cannot enforce AppArmor: AppArmor is not enabled on the host", ""},
		{"Localhost, no AppArmor", pod(profile(corev1.AppArmorProfileTypeLocalhost, "k8s-deny-write"), nil, nil), none,
			"AppArmor", "Cannot enforce AppArmor: AppArmor is not enabled on the host", ""},
		{"pod-level Localhost, no AppArmor", pod(nil, profile(corev1.AppArmorProfileTypeLocalhost, "k8s-deny-write"), nil), none,
			"AppArmor", "Cannot enforce AppArmor: AppArmor is not enabled on the host", ""},
		{"container Unconfined overrides pod Localhost", pod(profile(corev1.AppArmorProfileTypeUnconfined, ""), profile(corev1.AppArmorProfileTypeLocalhost, "x"), nil), none, "", "", ""},
		{"annotation localhost, no AppArmor", pod(nil, nil, map[string]string{appArmorAnnotationPrefix + "app": "localhost/k8s-deny-write"}), none,
			"AppArmor", "Cannot enforce AppArmor: AppArmor is not enabled on the host", ""},
		{"annotation unconfined, no AppArmor", pod(nil, nil, map[string]string{appArmorAnnotationPrefix + "app": "unconfined"}), none, "", "", ""},
		{"Localhost loaded", pod(profile(corev1.AppArmorProfileTypeLocalhost, "k8s-deny-write"), nil, nil), withAA, "", "", "k8s-deny-write"},
		{"Localhost not loaded", pod(profile(corev1.AppArmorProfileTypeLocalhost, "nope"), nil, nil), withAA,
			"AppArmor", `Cannot enforce AppArmor: profile "nope" is not loaded`, ""},
		{"Localhost empty name", pod(profile(corev1.AppArmorProfileTypeLocalhost, " "), nil, nil), withAA,
			"AppArmor", `Cannot enforce AppArmor: invalid empty AppArmor profile name for container "app"`, ""},
		{"RuntimeDefault loaded", pod(profile(corev1.AppArmorProfileTypeRuntimeDefault, ""), nil, nil), withAA, "", "", "cri-containerd.apparmor.d"},
		{"RuntimeDefault without the default profile", pod(profile(corev1.AppArmorProfileTypeRuntimeDefault, ""), nil, nil), withAANoDefault,
			"AppArmor", `Cannot enforce AppArmor: profile "cri-containerd.apparmor.d" is not loaded`, ""},
		{"seLinuxOptions, no SELinux: ignored as upstream", seLinux, none, "", "", ""},
		{"seLinuxOptions with SELinux: refused", seLinux, MACHost{SELinux: true},
			"SELinux", "Cannot enforce SELinux: kubelet-lite does not apply seLinuxOptions on a host with SELinux enabled", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := admitMAC(tc.pod, tc.host)
			if tc.reason == "" {
				if r != nil {
					t.Fatalf("rejected: %+v, want admitted", r)
				}
				c := tc.pod.Spec.Containers[0]
				if got := appArmorName(appArmorProfile(tc.pod, &c)); got != tc.profile {
					t.Errorf("profile %q, want %q", got, tc.profile)
				}
				return
			}
			if r == nil || r.Reason != tc.reason || r.Message != tc.message {
				t.Fatalf("got %+v, want %s: %s", r, tc.reason, tc.message)
			}
		})
	}
}
