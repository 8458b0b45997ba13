package volume

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestTokenFile(t *testing.T) {
	sc := func(uid int64) *corev1.SecurityContext { return &corev1.SecurityContext{RunAsUser: &uid} }
	cases := []struct {
		name     string
		podSC    *corev1.PodSecurityContext
		init     []corev1.Container
		ctrs     []corev1.Container
		wantUID  *int64
		wantMode os.FileMode
	}{
		{"no user anywhere: the volume's mode", nil, nil, []corev1.Container{{}}, nil, 0o644},
		{"the pod's user for all", &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, []corev1.Container{{}}, []corev1.Container{{}, {}},
			ptr.To[int64](1000), 0o600},
		{"containers agree", nil, nil, []corev1.Container{{SecurityContext: sc(7)}, {SecurityContext: sc(7)}}, ptr.To[int64](7), 0o600},
		{"a container overrides the pod's to the same", &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](7)}, nil,
			[]corev1.Container{{SecurityContext: sc(7)}, {}}, ptr.To[int64](7), 0o600},
		{"containers differ", nil, nil, []corev1.Container{{SecurityContext: sc(7)}, {SecurityContext: sc(8)}}, nil, 0o644},
		{"an init container differs", nil, []corev1.Container{{SecurityContext: sc(0)}}, []corev1.Container{{SecurityContext: sc(7)}}, nil, 0o644},
		{"one container sets none", nil, nil, []corev1.Container{{SecurityContext: sc(7)}, {}}, nil, 0o644},
		{"fsGroup alone: 0600 for the group to be added", &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000)}, nil, []corev1.Container{{}}, nil, 0o600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: tc.podSC, InitContainers: tc.init, Containers: tc.ctrs}}
			f := tokenFile(pod, "tok", ptr.To[int32](0o644))
			if string(f.data) != "tok" || f.mode != tc.wantMode || !ptr.Equal(f.uid, tc.wantUID) {
				t.Errorf("tokenFile = %q mode %v uid %v, want mode %v uid %v", f.data, f.mode, ptr.Deref(f.uid, -1), tc.wantMode, ptr.Deref(tc.wantUID, -1))
			}
		})
	}
}

func TestWriteAtomicOwner(t *testing.T) {
	dir := t.TempDir()
	uid := int64(os.Getuid())
	pl := payload{"token": {data: []byte("v"), mode: 0o600, uid: &uid}}
	if _, err := writeAtomic(dir, pl, nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(st.Sys().(*syscall.Stat_t).Uid); got != uid || st.Mode().Perm() != 0o600 {
		t.Errorf("owner %d mode %v, want %d -rw-------", got, st.Mode().Perm(), uid)
	}
	if wrote, err := writeAtomic(dir, pl, nil); err != nil || wrote {
		t.Errorf("second write of the same payload: wrote %v, %v; want nothing written", wrote, err)
	}
	other := uid + 1
	if same, err := sameContent(payload{"token": {data: []byte("v"), mode: 0o600, uid: &other}}, filepath.Join(dir, "..data")); err != nil || same {
		t.Errorf("sameContent with another owner = %v, %v; want false", same, err)
	}
}
