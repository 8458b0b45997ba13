package volume_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/volume"
	"github.com/kubelet-lite/kubelet-lite/pkg/volume/volumetest"
)

func fakeGetter() *volumetest.Getter {
	g := volumetest.New()
	g.SetConfigMap(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"},
		Data:       map[string]string{"a.conf": "A", "b.conf": "B"},
		BinaryData: map[string][]byte{"bin": {0, 1}},
	})
	g.SetConfigMap(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "kube-root-ca.crt"},
		Data:       map[string]string{"ca.crt": "CA"},
	})
	g.SetSecret(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sec"},
		Data:       map[string][]byte{"user": []byte("admin"), "pass": []byte("hunter2")},
	})
	return g
}

func podWith(vols ...corev1.Volume) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid-1", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "robot",
			Volumes:            vols,
			Containers:         []corev1.Container{{Name: "c"}},
		},
	}
	for _, v := range vols {
		p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts,
			corev1.VolumeMount{Name: v.Name, MountPath: "/mnt/" + v.Name})
	}
	return p
}

// files lists the user-visible files of a volume dir as "path mode content",
// reading through the symlinks.
func files(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	data := filepath.Join(dir, "..data")
	err := filepath.Walk(data+"/", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(data, p)
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		out = append(out, rel+" "+info.Mode().Perm().String()+" "+string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func newManager(t *testing.T, g volume.Getter) (*volume.Manager, *volume.FakeMounter) {
	t.Helper()
	m, f, err := volume.NewFake(volume.Config{Dir: t.TempDir(), Getter: g,
		Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, f
}

func TestSetupAPIData(t *testing.T) {
	tests := []struct {
		name      string
		vol       corev1.VolumeSource
		wantDir   string // below the pod dir
		wantFiles string
		wantTmpfs bool
	}{
		{
			name:      "configMap: all keys, default mode",
			vol:       corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			wantDir:   "volumes/kubernetes.io~configmap/v",
			wantFiles: "a.conf -rw-r--r-- A\nb.conf -rw-r--r-- B\nbin -rw-r--r-- \x00\x01",
		},
		{
			name: "configMap: items with paths and modes, defaultMode",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				DefaultMode:          ptr.To[int32](0o600),
				Items: []corev1.KeyToPath{
					{Key: "a.conf", Path: "etc/a"},
					{Key: "b.conf", Path: "b", Mode: ptr.To[int32](0o444)},
				},
			}},
			wantDir:   "volumes/kubernetes.io~configmap/v",
			wantFiles: "b -r--r--r-- B\netc/a -rw------- A",
		},
		{
			name: "configMap: optional missing is empty",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}},
			wantDir:   "volumes/kubernetes.io~configmap/v",
			wantFiles: "",
		},
		{
			name: "configMap: optional, missing item key skipped",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Optional: ptr.To(true),
				Items: []corev1.KeyToPath{{Key: "zzz", Path: "z"}, {Key: "a.conf", Path: "a"}}}},
			wantDir:   "volumes/kubernetes.io~configmap/v",
			wantFiles: "a -rw-r--r-- A",
		},
		{
			name:      "secret on tmpfs",
			vol:       corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptr.To[int32](0o400)}},
			wantDir:   "volumes/kubernetes.io~secret/v",
			wantFiles: "pass -r-------- hunter2\nuser -r-------- admin",
			wantTmpfs: true,
		},
		{
			name: "downwardAPI",
			vol: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}, Mode: ptr.To[int32](0o400)},
				{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			}}},
			wantDir:   "volumes/kubernetes.io~downward-api/v",
			wantFiles: "labels -r-------- app=\"x\"\nmem -rw-r--r-- 1024\nname -rw-r--r-- p",
		},
		{
			name: "projected: service-account token, ca.crt, namespace (as admission injects)",
			vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](0o644),
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
						Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
						{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"},
						Items: []corev1.KeyToPath{{Key: "user", Path: "creds/user", Mode: ptr.To[int32](0o600)}}}},
				},
			}},
			wantDir:   "volumes/kubernetes.io~projected/v",
			wantFiles: "ca.crt -rw-r--r-- CA\ncreds/user -rw------- admin\nnamespace -rw-r--r-- ns\ntoken -rw-r--r-- token-1",
			wantTmpfs: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, f := newManager(t, fakeGetter())
			pod := podWith(corev1.Volume{Name: "v", VolumeSource: tt.vol})
			mounts, err := m.Setup(context.Background(), pod)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(m.Dir(), "uid-1", tt.wantDir)
			if got := files(t, dir); got != tt.wantFiles {
				t.Errorf("files:\n%s\nwant:\n%s", got, tt.wantFiles)
			}
			want := map[string][]sandbox.Mount{"c": {{Source: dir, Destination: "/mnt/v", ReadOnly: true}}}
			if !equalMounts(mounts, want) {
				t.Errorf("mounts = %v, want %v", mounts, want)
			}
			_, tmpfs := f.Mounts[dir]
			if tmpfs != tt.wantTmpfs {
				t.Errorf("tmpfs mounted = %v, want %v (mounts %v)", tmpfs, tt.wantTmpfs, f.Mounts)
			}
		})
	}
}

func equalMounts(a, b map[string][]sandbox.Mount) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w := b[k]
		if len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}

func TestSetupErrors(t *testing.T) {
	cm := func(name string, items ...corev1.KeyToPath) corev1.VolumeSource {
		return corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Items: items}}
	}
	tests := []struct {
		name        string
		getter      bool
		vol         corev1.VolumeSource
		wantErr     string
		unsupported bool
	}{
		{name: "missing configMap", getter: true, vol: cm("nope"), wantErr: `volume "v": configMap "nope" not found`},
		{name: "missing key", getter: true, vol: cm("cfg", corev1.KeyToPath{Key: "zzz", Path: "z"}), wantErr: `configMap "cfg" has no key "zzz"`},
		{name: "item path escapes", getter: true, vol: cm("cfg", corev1.KeyToPath{Key: "a.conf", Path: "../../x"}), wantErr: "must not contain '..'"},
		{name: "absolute item path", getter: true, vol: cm("cfg", corev1.KeyToPath{Key: "a.conf", Path: "/etc/x"}), wantErr: "must be relative"},
		{name: "missing secret", getter: true, vol: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "nope"}}, wantErr: `secret "nope" not found`},
		{name: "standalone configMap", vol: cm("cfg"), wantErr: "needs the API server"},
		{name: "unsupported type", getter: true, vol: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}},
			wantErr: `volume "v" of type persistentVolumeClaim: unsupported volume type`, unsupported: true},
		{name: "clusterTrustBundle", getter: true, vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Path: "b"}}}}}, wantErr: "clusterTrustBundle sources", unsupported: true},
		{name: "relative hostPath", vol: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "etc"}}, wantErr: "is not absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g volume.Getter
			if tt.getter {
				g = fakeGetter()
			}
			m, _ := newManager(t, g)
			_, err := m.Setup(context.Background(), podWith(corev1.Volume{Name: "v", VolumeSource: tt.vol}))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if errors.Is(err, volume.ErrUnsupported) != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", !tt.unsupported, tt.unsupported)
			}
		})
	}
}

func TestSetupEmptyDirAndHostPath(t *testing.T) {
	m, f := newManager(t, nil)
	host := t.TempDir()
	pod := podWith(
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
		corev1.Volume{Name: "mem-default", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: filepath.Join(host, "data"), Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}},
	)
	pod.Spec.Containers[0].VolumeMounts[3].ReadOnly = true
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "d",
		VolumeMounts: []corev1.VolumeMount{{Name: "disk", MountPath: "/shared"}}})
	mounts, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	ed := filepath.Join(m.Dir(), "uid-1/volumes/kubernetes.io~empty-dir")
	want := map[string][]sandbox.Mount{
		"c": {
			{Source: ed + "/disk", Destination: "/mnt/disk"},
			{Source: ed + "/mem", Destination: "/mnt/mem"},
			{Source: ed + "/mem-default", Destination: "/mnt/mem-default"},
			{Source: host + "/data", Destination: "/mnt/host", ReadOnly: true},
		},
		"d": {{Source: ed + "/disk", Destination: "/shared"}},
	}
	if !equalMounts(mounts, want) {
		t.Errorf("mounts = %v\nwant %v", mounts, want)
	}
	wantTmpfs := map[string]string{ed + "/mem": "tmpfs size=67108864", ed + "/mem-default": "tmpfs size=1073741824"}
	if len(f.Mounts) != 2 || f.Mounts[ed+"/mem"] != wantTmpfs[ed+"/mem"] || f.Mounts[ed+"/mem-default"] != wantTmpfs[ed+"/mem-default"] {
		t.Errorf("mounts = %v, want %v", f.Mounts, wantTmpfs)
	}
	st, err := os.Stat(ed + "/disk")
	if err != nil || st.Mode().String() != "drwxrwxrwx" {
		t.Errorf("emptyDir mode = %v, %v; want drwxrwxrwx", st.Mode(), err)
	}
	if st, err := os.Stat(host + "/data"); err != nil || !st.IsDir() {
		t.Errorf("hostPath DirectoryOrCreate did not create the dir: %v", err)
	}
	// Setup is idempotent: no second tmpfs, same mounts.
	again, err := m.Setup(context.Background(), pod)
	if err != nil || !equalMounts(again, want) || len(f.Mounts) != 2 {
		t.Errorf("second Setup = %v, %v (mounts %v)", again, err, f.Mounts)
	}
}

func TestMemorySizeFromPodLimit(t *testing.T) {
	m, f := newManager(t, nil)
	pod := podWith(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("512Mi"))}}})
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
	if _, err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(m.Dir(), "uid-1/volumes/kubernetes.io~empty-dir/mem")
	if got := f.Mounts[mp]; got != "tmpfs size=134217728" {
		t.Errorf("tmpfs = %q, want the pod's 128Mi limit (smaller than sizeLimit)", got)
	}
}

func TestSubPath(t *testing.T) {
	m, f := newManager(t, fakeGetter())
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink that points out of the volume resolves inside it.
	if err := os.Symlink("/etc", filepath.Join(host, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(host, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "etc/passwd"), []byte("in-volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := podWith(
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}},
	)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/etc/a.conf", SubPath: "a.conf"},
		{Name: "scratch", MountPath: "/work", SubPathExpr: "pods/$(POD)"},
		{Name: "host", MountPath: "/real", SubPath: "real"},
		{Name: "host", MountPath: "/esc", SubPath: "escape/passwd"},
	}
	mounts, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	pd := filepath.Join(m.Dir(), "uid-1")
	want := map[string][]sandbox.Mount{"c": {
		{Source: pd + "/volume-subpaths/scratch/c/1", Destination: "/work"},
		{Source: pd + "/volume-subpaths/host/c/2", Destination: "/real"},
		{Source: pd + "/volume-subpaths/host/c/3", Destination: "/esc"},
		{Source: pd + "/volume-subpaths/cfg/c/0", Destination: "/etc/a.conf", ReadOnly: true}, // deeper: last
	}}
	if !equalMounts(mounts, want) {
		t.Fatalf("mounts = %v\nwant %v", mounts, want)
	}
	cfgData, err := filepath.EvalSymlinks(filepath.Join(pd, "volumes/kubernetes.io~configmap/cfg/a.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfgData, "/..20") {
		t.Errorf("configMap file resolves to %s, want a file in the timestamped dir", cfgData)
	}
	wantBinds := map[string]string{
		pd + "/volume-subpaths/cfg/c/0":     "bind " + cfgData,
		pd + "/volume-subpaths/scratch/c/1": "bind " + pd + "/volumes/kubernetes.io~empty-dir/scratch/pods/p",
		pd + "/volume-subpaths/host/c/2":    "bind " + host + "/real",
		pd + "/volume-subpaths/host/c/3":    "bind " + host + "/etc/passwd",
	}
	for target, w := range wantBinds {
		if f.Mounts[target] != w {
			t.Errorf("bind on %s = %q, want %q", target, f.Mounts[target], w)
		}
	}
	if st, err := os.Stat(pd + "/volume-subpaths/cfg/c/0"); err != nil || !st.Mode().IsRegular() {
		t.Errorf("file subPath mount point is not a file: %v", err)
	}
	if st, err := os.Stat(pd + "/volumes/kubernetes.io~empty-dir/scratch/pods/p"); err != nil || !st.IsDir() {
		t.Errorf("missing subPath was not created as a directory in the volume: %v", err)
	}
}

func TestSubPathRejectsEscape(t *testing.T) {
	m, _ := newManager(t, nil)
	pod := podWith(corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for _, sub := range []string{"../x", "/etc", "a/../../b"} {
		pod.Spec.Containers[0].VolumeMounts[0].SubPath = sub
		if _, err := m.Setup(context.Background(), pod); err == nil {
			t.Errorf("subPath %q accepted", sub)
		}
	}
}

func TestTeardown(t *testing.T) {
	m, f := newManager(t, fakeGetter())
	pod := podWith(
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	)
	pod.Spec.Containers[0].VolumeMounts[0].SubPath = "user"
	f.Mounts["/elsewhere"] = "tmpfs size=0"
	if _, err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if len(f.Mounts) != 4 {
		t.Fatalf("mounts after Setup = %v, want 2 tmpfs, 1 bind and /elsewhere", f.Mounts)
	}
	for i := 0; i < 2; i++ {
		if err := m.Teardown(pod.UID); err != nil {
			t.Fatalf("Teardown #%d: %v", i+1, err)
		}
	}
	if len(f.Mounts) != 1 || f.Mounts["/elsewhere"] == "" {
		t.Errorf("mounts after Teardown = %v, want only /elsewhere", f.Mounts)
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod dir still there: %v", err)
	}
	uids, err := m.Pods()
	if err != nil || len(uids) != 0 {
		t.Errorf("Pods() = %v, %v; want none", uids, err)
	}
}

func TestRefreshUpdatesRunningVolumes(t *testing.T) {
	g := fakeGetter()
	m, _ := newManager(t, g)
	pod := podWith(
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
	)
	if _, err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	g.SetConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"},
		Data: map[string]string{"a.conf": "A2", "c.conf": "C"}})
	g.SetSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sec"},
		Data: map[string][]byte{"user": []byte("root")}})
	m.RefreshAll(context.Background())
	pd := filepath.Join(m.Dir(), "uid-1/volumes")
	if got, want := files(t, pd+"/kubernetes.io~configmap/cfg"), "a.conf -rw-r--r-- A2\nc.conf -rw-r--r-- C"; got != want {
		t.Errorf("configMap after refresh:\n%s\nwant:\n%s", got, want)
	}
	if got, want := files(t, pd+"/kubernetes.io~secret/sec"), "user -rw-r--r-- root"; got != want {
		t.Errorf("secret after refresh:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Lstat(pd + "/kubernetes.io~configmap/cfg/b.conf"); !os.IsNotExist(err) {
		t.Errorf("removed key b.conf still visible: %v", err)
	}
	// After Teardown, refresh writes nothing back.
	if err := m.Teardown(pod.UID); err != nil {
		t.Fatal(err)
	}
	m.RefreshAll(context.Background())
	if _, err := os.Stat(filepath.Join(m.Dir(), "uid-1")); !os.IsNotExist(err) {
		t.Errorf("refresh recreated a torn-down pod: %v", err)
	}
}

func TestTokenRotation(t *testing.T) {
	g := fakeGetter()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	g.Now = clock
	m, _, err := volume.NewFake(volume.Config{Dir: t.TempDir(), Getter: g}, clock)
	if err != nil {
		t.Fatal(err)
	}
	pod := podWith(corev1.Volume{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: "vault", ExpirationSeconds: ptr.To[int64](600), Path: "t"}}}}}})
	if _, err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(m.Dir(), "uid-1/volumes/kubernetes.io~projected/tok/t")
	read := func() string {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	steps := []struct {
		after     time.Duration
		wantToken string
	}{
		{after: 0, wantToken: "token-1"},
		{after: 479 * time.Second, wantToken: "token-1"}, // before 80% of 600 s
		{after: 2 * time.Second, wantToken: "token-2"},   // 481 s: renewed
		{after: 400 * time.Second, wantToken: "token-2"},
		{after: 81 * time.Second, wantToken: "token-3"},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		m.RefreshAll(context.Background())
		if got := read(); got != s.wantToken {
			t.Errorf("step %d: token = %q, want %q", i, got, s.wantToken)
		}
	}
	call := g.TokenCalls()[0]
	r := call.Request.Spec
	if call.Namespace != "ns" || call.ServiceAccount != "robot" || len(r.Audiences) != 1 || r.Audiences[0] != "vault" ||
		*r.ExpirationSeconds != 600 || r.BoundObjectRef == nil || r.BoundObjectRef.Kind != "Pod" ||
		r.BoundObjectRef.Name != "p" || r.BoundObjectRef.UID != "uid-1" {
		t.Errorf("token request = %+v for %s/%s", r, call.Namespace, call.ServiceAccount)
	}
}

func TestSupported(t *testing.T) {
	pod := podWith(corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "other", MountPath: "/o"})
	if err := volume.Supported(pod); err == nil || !strings.Contains(err.Error(), `mounts volume "other"`) {
		t.Errorf("Supported = %v, want an error about volume other", err)
	}
	pod = podWith(corev1.Volume{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}})
	if err := volume.Supported(pod); err == nil || err.Error() != `volume "n" of type nfs: unsupported volume type` {
		t.Errorf("Supported = %v", err)
	}
}

func TestSubPathSymlinkOutOfVolumeStaysInside(t *testing.T) {
	m, f := newManager(t, nil)
	host := t.TempDir()
	// escape -> /etc resolves to <host>/etc, which does not exist: an error,
	// never a mount of the real /etc.
	if err := os.Symlink("/etc", filepath.Join(host, "escape")); err != nil {
		t.Fatal(err)
	}
	pod := podWith(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}})
	pod.Spec.Containers[0].VolumeMounts[0].SubPath = "escape/passwd"
	if _, err := m.Setup(context.Background(), pod); err == nil {
		t.Fatalf("subPath through a symlink out of the volume succeeded: %v", f.Mounts)
	}
	for mp, src := range f.Mounts {
		if strings.Contains(src, " /etc") {
			t.Errorf("%s bound to %s", mp, src)
		}
	}
}

func TestRejectsUnsafeUIDs(t *testing.T) {
	m, _ := newManager(t, nil)
	for _, uid := range []string{"", "..", "a/b", "../x"} {
		pod := podWith()
		pod.UID = types.UID(uid)
		if _, err := m.Setup(context.Background(), pod); err == nil {
			t.Errorf("Setup with UID %q succeeded", uid)
		}
		if err := m.Teardown(types.UID(uid)); err == nil {
			t.Errorf("Teardown of UID %q succeeded", uid)
		}
	}
	if _, err := os.Stat(m.Dir()); err != nil {
		t.Errorf("volume dir gone: %v", err)
	}
}

// TestSetupKeepsContentWhenSourceUnreadable: once made, a configMap,
// secret or projected volume keeps its content when its source cannot be
// read (the apiserver is away), so that Setup — and a container restart —
// still succeeds; a volume never made still fails.
func TestSetupKeepsContentWhenSourceUnreadable(t *testing.T) {
	g := fakeGetter()
	m, _ := newManager(t, g)
	pod := podWith(
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a.conf", Path: "a"}}}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "sec", Items: []corev1.KeyToPath{{Key: "user", Path: "user"}}}}},
		corev1.Volume{Name: "ca", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}}}}}},
	)
	first, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	g.Err = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	again, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatalf("Setup again with the apiserver away = %v, want the volumes as they were", err)
	}
	if !equalMounts(first, again) {
		t.Errorf("mounts changed: %v, then %v", first, again)
	}
	pd := filepath.Join(m.Dir(), "uid-1/volumes")
	for dir, want := range map[string]string{
		"kubernetes.io~configmap/cfg": "a -rw-r--r-- A",
		"kubernetes.io~secret/sec":    "user -rw-r--r-- admin",
		"kubernetes.io~projected/ca":  "ca.crt -rw-r--r-- CA",
	} {
		if got := files(t, filepath.Join(pd, dir)); got != want {
			t.Errorf("%s after a failed refresh:\n%s\nwant:\n%s", dir, got, want)
		}
	}

	other := podWith(corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}})
	other.UID = "uid-2"
	if _, err := m.Setup(context.Background(), other); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Setup of a new pod with the apiserver away = %v, want the fetch error", err)
	}
}
