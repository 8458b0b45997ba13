//go:build integration

package volume_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubelet-lite/kubelet-lite/pkg/volume"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct{ point, fstype, superOpts string }

// mountsBelow parses /proc/self/mountinfo for mount points at or below dir.
func mountsBelow(t *testing.T, dir string) []mountEntry {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []mountEntry
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			t.Fatalf("bad mountinfo line %q", line)
		}
		if f[4] == dir || strings.HasPrefix(f[4], dir+"/") {
			out = append(out, mountEntry{point: f[4], fstype: g[0], superOpts: g[2]})
		}
	}
	return out
}

func realManager(t *testing.T, g volume.Getter) *volume.Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("volume integration tests need root (mount)")
	}
	dir := t.TempDir()
	m, err := volume.New(volume.Config{Dir: dir, Getter: g,
		Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTmpfsVolumesAndTeardown(t *testing.T) {
	m := realManager(t, fakeGetter())
	pod := podWith(
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("8Mi"))}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
	)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sub", VolumeMounts: []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/a.conf", SubPath: "a.conf"},
		{Name: "sec", MountPath: "/user", SubPath: "user"},
	}})
	t.Cleanup(func() { _ = m.Teardown(pod.UID) })
	mounts, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	pd := filepath.Join(m.Dir(), string(pod.UID))
	got := map[string]mountEntry{}
	for _, e := range mountsBelow(t, pd) {
		got[strings.TrimPrefix(e.point, pd+"/")] = e
	}
	mem := got["volumes/kubernetes.io~empty-dir/mem"]
	if mem.fstype != "tmpfs" || !strings.Contains(mem.superOpts, "size=8192k") {
		t.Errorf("memory emptyDir mount = %+v, want tmpfs size=8192k", mem)
	}
	sec := got["volumes/kubernetes.io~secret/sec"]
	if sec.fstype != "tmpfs" || !strings.Contains(sec.superOpts, "size=262144k") {
		t.Errorf("secret mount = %+v, want tmpfs sized to allocatable (262144k)", sec)
	}
	if _, ok := got["volumes/kubernetes.io~configmap/cfg"]; ok {
		t.Errorf("configMap volume is a mount point, want a plain directory")
	}
	if len(got) != 4 {
		t.Errorf("mounts below the pod dir = %v, want 2 tmpfs and 2 subPath binds", got)
	}

	// The size limit holds.
	big := bytes.Repeat([]byte("x"), 9<<20)
	err = os.WriteFile(filepath.Join(mounts["c"][0].Source, "big"), big, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing 9 MiB into an 8 MiB emptyDir: err = %v, want ENOSPC", err)
	}
	// The secret's content is on the tmpfs.
	if b, err := os.ReadFile(filepath.Join(mounts["c"][1].Source, "user")); err != nil || string(b) != "admin" {
		t.Errorf("secret user = %q, %v", b, err)
	}
	// Subpath binds show the pinned files.
	for i, want := range []string{"A", "admin"} {
		if b, err := os.ReadFile(mounts["sub"][i].Source); err != nil || string(b) != want {
			t.Errorf("subPath mount %d reads %q, %v; want %q", i, b, err, want)
		}
	}

	// A mount next to the pod's dir that is not ours survives Teardown.
	other := filepath.Join(filepath.Dir(pd), "not-ours")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", other, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer syscall.Unmount(other, 0)

	for i := 0; i < 2; i++ {
		if err := m.Teardown(pod.UID); err != nil {
			t.Fatalf("Teardown #%d: %v", i+1, err)
		}
	}
	if left := mountsBelow(t, pd); len(left) != 0 {
		t.Errorf("mounts left after Teardown: %v", left)
	}
	if _, err := os.Stat(pd); !os.IsNotExist(err) {
		t.Errorf("pod dir still exists: %v", err)
	}
	if len(mountsBelow(t, other)) != 1 {
		t.Errorf("Teardown unmounted %s, which it did not mount", other)
	}
}

func TestSubPathPinsAndVolumeUpdates(t *testing.T) {
	g := fakeGetter()
	m := realManager(t, g)
	pod := podWith(corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}})
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sub", VolumeMounts: []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/a.conf", SubPath: "a.conf"}}})
	t.Cleanup(func() { _ = m.Teardown(pod.UID) })
	mounts, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	g.SetConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"},
		Data: map[string]string{"a.conf": "A2"}})
	m.RefreshAll(context.Background())
	whole, pinned := filepath.Join(mounts["c"][0].Source, "a.conf"), mounts["sub"][0].Source
	if b, err := os.ReadFile(whole); err != nil || string(b) != "A2" {
		t.Errorf("volume a.conf = %q, %v; want the update A2", b, err)
	}
	if b, err := os.ReadFile(pinned); err != nil || string(b) != "A" {
		t.Errorf("subPath a.conf = %q, %v; want the pinned A (as upstream)", b, err)
	}
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if left := mountsBelow(t, filepath.Join(m.Dir(), string(pod.UID))); len(left) != 0 {
		t.Errorf("mounts left: %v", left)
	}
}
