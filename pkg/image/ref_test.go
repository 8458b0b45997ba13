package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
)

func TestNormalizeRef(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bare name", "busybox", "index.docker.io/library/busybox:latest"},
		{"docker hub tag", "busybox:1.36", "index.docker.io/library/busybox:1.36"},
		{"docker.io alias", "docker.io/library/busybox:1.36", "index.docker.io/library/busybox:1.36"},
		{"user repo", "nginxinc/nginx-unprivileged", "index.docker.io/nginxinc/nginx-unprivileged:latest"},
		{"local registry", "kubelet-lite.local/busybox:v1", "kubelet-lite.local/busybox:v1"},
		{"registry with port", "127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"},
		{"digest", "busybox@sha256:" + hex64, "index.docker.io/library/busybox@sha256:" + hex64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeRef(tt.in)
			if err != nil {
				t.Fatalf("NormalizeRef(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("NormalizeRef(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestNormalizeRefInvalid(t *testing.T) {
	for _, in := range []string{"", "UPPER/case", "a:b:c", "busybox@sha256:short"} {
		if got, err := NormalizeRef(in); err == nil {
			t.Errorf("NormalizeRef(%q) = %q, want an error", in, got)
		}
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		name, ref string
		want      corev1.PullPolicy
	}{
		{"no tag", "busybox", corev1.PullAlways},
		{"latest", "busybox:latest", corev1.PullAlways},
		{"latest with registry", "127.0.0.1:5000/app:latest", corev1.PullAlways},
		{"versioned tag", "busybox:1.36", corev1.PullIfNotPresent},
		{"local tag", "kubelet-lite.local/busybox:v1", corev1.PullIfNotPresent},
		{"digest", "busybox@sha256:" + hex64, corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultPullPolicy(tt.ref)
			if err != nil {
				t.Fatalf("DefaultPullPolicy(%q): %v", tt.ref, err)
			}
			if got != tt.want {
				t.Errorf("DefaultPullPolicy(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
}

func TestEnsureNeverMissing(t *testing.T) {
	s, err := NewStore(Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, pulled, err := s.Ensure(context.Background(), "x", corev1.PullNever, nil, nil)
	const want = `image "x" is not present with pull policy Never: image not found`
	if err == nil || err.Error() != want {
		t.Fatalf("Ensure(Never) error = %v, want %q", err, want)
	}
	if !errors.Is(err, ErrNotFound) || pulled {
		t.Errorf("Ensure(Never): errors.Is(ErrNotFound) = %v, pulled = %v; want true, false", errors.Is(err, ErrNotFound), pulled)
	}
}

func TestEnsureUnknownPolicy(t *testing.T) {
	s, err := NewStore(Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Ensure(context.Background(), "x:v1", "Sometimes", nil, nil)
	const want = `image "x:v1": unknown pull policy "Sometimes"`
	if err == nil || err.Error() != want {
		t.Fatalf("Ensure(Sometimes) error = %v, want %q", err, want)
	}
}

func TestCleanRel(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"plain", "etc/passwd", "etc/passwd", false},
		{"dot slash", "./etc/", "etc", false},
		{"root", "./", ".", false},
		{"absolute", "/etc/passwd", "etc/passwd", false},
		{"inner dotdot", "a/../b", "b", false},
		{"escape", "../etc/passwd", "", true},
		{"escape after clean", "a/../../etc", "", true},
		{"parent only", "..", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanRel(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("cleanRel(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestMetadataOnly exercises import, list, get and remove with a layer-less
// image, which needs no root.
func TestMetadataOnly(t *testing.T) {
	dir := t.TempDir()
	img, err := mutate.Config(empty.Image, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, WorkingDir: "/w", User: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("kubelet-lite.local/empty:v1")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "empty.tar")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(Config{Root: filepath.Join(dir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	imported, err := s.Import(context.Background(), archive)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	wantID, _ := img.ConfigName()
	if len(imported) != 1 || imported[0].Ref != "kubelet-lite.local/empty:v1" || imported[0].ID != wantID.String() {
		t.Fatalf("Import = %+v, want one image kubelet-lite.local/empty:v1 with ID %s", imported, wantID)
	}
	got, err := s.Get("kubelet-lite.local/empty:v1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.WorkingDir != "/w" || got.User != "1000" || len(got.Cmd) != 1 || got.Cmd[0] != "sh" || len(got.Layers) != 0 {
		t.Errorf("Get = %+v, want Cmd [sh], WorkingDir /w, User 1000, no layers", got)
	}
	if byID, err := s.Get(got.ID); err != nil || byID.Ref != got.Ref {
		t.Errorf("Get(ID) = %+v, %v; want %s", byID, err, got.Ref)
	}
	if err := s.Remove("kubelet-lite.local/empty:v1"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := s.Remove("kubelet-lite.local/empty:v1"); err != nil {
		t.Fatalf("Remove again: %v", err)
	}
	if _, err := s.Get("kubelet-lite.local/empty:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v, want ErrNotFound", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 0 {
		t.Errorf("List after Remove = %v, %v; want empty", list, err)
	}
}

func TestNewStoreCleansTmp(t *testing.T) {
	root := t.TempDir()
	if _, err := NewStore(Config{Root: root}); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(root, "tmp", "layer-0123456789ab-1", "etc")
	if err := os.MkdirAll(left, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(Config{Root: root}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "tmp"))
	if err != nil || len(entries) != 0 {
		t.Errorf("tmp after NewStore = %v, %v; want empty", entries, err)
	}
}
