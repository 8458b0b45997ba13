//go:build integration

package image

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// want describes one unpacked path: file type and permission bits as in
// st_mode, owner, and for devices the device number.
type want struct {
	rel      string
	mode     uint32
	uid, gid uint32
	rdev     uint64
}

func checkTree(t *testing.T, root string, wants []want) {
	t.Helper()
	for _, w := range wants {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, w.rel), &st); err != nil {
			t.Errorf("lstat %s: %v", w.rel, err)
			continue
		}
		if st.Mode != w.mode || st.Uid != w.uid || st.Gid != w.gid || st.Rdev != w.rdev {
			t.Errorf("%s: mode %#o uid %d gid %d rdev %#x; want mode %#o uid %d gid %d rdev %#x",
				w.rel, st.Mode, st.Uid, st.Gid, st.Rdev, w.mode, w.uid, w.gid, w.rdev)
		}
	}
}

func TestPullUnpacksLayersForOverlay(t *testing.T) {
	s := newTestStore(t)
	reg := serveRegistry(t, "", "")
	base, top := baseLayer(t), topLayer(t, "hello")
	cfg := v1.Config{Entrypoint: []string{"/bin/tool"}, Cmd: []string{"x"}, Env: []string{"PATH=/bin"}, WorkingDir: "/data", User: "1000:1000"}
	img := imageOf(t, cfg, base, top)
	push(t, reg+"/app:v1", img, nil)

	got, err := s.Pull(ctx, reg+"/app:v1", nil)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	baseDir := filepath.Join(s.Root(), "layers/sha256", strings.TrimPrefix(diffIDOf(t, base), "sha256:"))
	topDir := filepath.Join(s.Root(), "layers/sha256", strings.TrimPrefix(diffIDOf(t, top), "sha256:"))
	if got.Ref != reg+"/app:v1" || got.ID != configID(t, img) || got.RepoDigest != reg+"/app@"+digestOf(t, img) {
		t.Errorf("Pull = ref %q id %q repoDigest %q; want %q %q %q", got.Ref, got.ID, got.RepoDigest,
			reg+"/app:v1", configID(t, img), reg+"/app@"+digestOf(t, img))
	}
	if strings.Join(got.Layers, ",") != baseDir+","+topDir {
		t.Errorf("Layers = %v, want [%s %s]", got.Layers, baseDir, topDir)
	}
	if strings.Join(got.Entrypoint, " ") != "/bin/tool" || strings.Join(got.Cmd, " ") != "x" ||
		strings.Join(got.Env, " ") != "PATH=/bin" || got.WorkingDir != "/data" || got.User != "1000:1000" {
		t.Errorf("config = %+v, want entrypoint /bin/tool cmd x env PATH=/bin workdir /data user 1000:1000", got)
	}
	if got.Size <= 0 {
		t.Errorf("Size = %d, want > 0", got.Size)
	}

	checkTree(t, baseDir, []want{
		{rel: ".", mode: unix.S_IFDIR | 0o755},
		{rel: "bin/tool", mode: unix.S_IFREG | 0o4755},
		{rel: "bin/link", mode: unix.S_IFLNK | 0o777},
		{rel: "dev/null", mode: unix.S_IFCHR | 0o666, rdev: unix.Mkdev(1, 3)},
		{rel: "dev/fifo", mode: unix.S_IFIFO | 0o600},
		{rel: "home/app", mode: unix.S_IFDIR | 0o700, uid: 1000, gid: 1000},
		{rel: "home/app/owned", mode: unix.S_IFREG | 0o600, uid: 1000, gid: 1001},
		{rel: "tmp", mode: unix.S_IFDIR | 0o1777},
	})
	checkTree(t, topDir, []want{
		{rel: "data/gone", mode: unix.S_IFCHR, rdev: 0},
		{rel: "opaque/new", mode: unix.S_IFREG | 0o644},
	})
	checkLinksTimesXattrs(t, baseDir, topDir)
	checkOverlay(t, baseDir, topDir)
}

func checkLinksTimesXattrs(t *testing.T, baseDir, topDir string) {
	t.Helper()
	if l, err := os.Readlink(filepath.Join(baseDir, "bin/link")); err != nil || l != "tool" {
		t.Errorf("readlink bin/link = %q, %v; want tool", l, err)
	}
	var tool, hard unix.Stat_t
	if err := unix.Lstat(filepath.Join(baseDir, "bin/tool"), &tool); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Join(baseDir, "bin/hard"), &hard); err != nil {
		t.Fatal(err)
	}
	if tool.Ino != hard.Ino || tool.Nlink != 2 {
		t.Errorf("bin/hard inode %d, bin/tool inode %d nlink %d; want the same inode, nlink 2", hard.Ino, tool.Ino, tool.Nlink)
	}
	for _, rel := range []string{"etc/passwd", "data", "home/app"} {
		fi, err := os.Lstat(filepath.Join(baseDir, rel))
		if err != nil || !fi.ModTime().Equal(mtime) {
			t.Errorf("mtime of %s = %v (%v), want %v", rel, fi.ModTime(), err, mtime)
		}
	}
	if v, err := getxattr(filepath.Join(baseDir, "bin/tool"), "user.note"); err != nil || v != "kept" {
		t.Errorf("xattr user.note = %q, %v; want kept", v, err)
	}
	if v, err := getxattr(filepath.Join(topDir, "opaque"), "trusted.overlay.opaque"); err != nil || v != "y" {
		t.Errorf("xattr trusted.overlay.opaque on opaque/ = %q, %v; want y", v, err)
	}
	if v, err := getxattr(filepath.Join(topDir, "data"), "trusted.overlay.opaque"); err == nil {
		t.Errorf("data/ has trusted.overlay.opaque %q, want only opaque/ to be opaque", v)
	}
}

func getxattr(path, attr string) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(path, attr, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// checkOverlay stacks the layers read-only and checks what a container sees.
func checkOverlay(t *testing.T, baseDir, topDir string) {
	t.Helper()
	merged := t.TempDir()
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+topDir+":"+baseDir); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	defer func() {
		if err := unix.Unmount(merged, 0); err != nil {
			t.Errorf("unmount overlay: %v", err)
		}
	}()
	tests := []struct {
		rel, content string
		exists       bool
	}{
		{"data/keep", "keep", true},
		{"data/gone", "", false},
		{"opaque/old", "", false},
		{"opaque/new", "new", true},
		{"etc/motd", "hello", true},
		{"etc/passwd", "root:x:0:0::/:/bin/sh\n", true},
	}
	for _, tt := range tests {
		p := filepath.Join(merged, tt.rel)
		fi, err := os.Lstat(p)
		if !tt.exists {
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("overlay %s: lstat %v, want it hidden (not exist)", tt.rel, err)
			}
			continue
		}
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("overlay %s: lstat %v, want a regular file", tt.rel, err)
			continue
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != tt.content {
			t.Errorf("overlay %s = %q, %v; want %q", tt.rel, b, err, tt.content)
		}
	}
}

func TestPullWithCredentials(t *testing.T) {
	s := newTestStore(t)
	reg := serveRegistry(t, "alice", "s3cret")
	img := imageOf(t, v1.Config{Cmd: []string{"sh"}}, baseLayer(t))
	push(t, reg+"/private:v1", img, &authn.Basic{Username: "alice", Password: "s3cret"})

	tests := []struct {
		name    string
		auth    authn.Authenticator
		wantErr bool
	}{
		{"anonymous is refused", nil, true},
		{"wrong password is refused", &authn.Basic{Username: "alice", Password: "nope"}, true},
		{"right credentials", &authn.Basic{Username: "alice", Password: "s3cret"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Pull(ctx, reg+"/private:v1", tt.auth)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Pull error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got.ID != configID(t, img) {
				t.Errorf("ID = %s, want %s", got.ID, configID(t, img))
			}
		})
	}
}

func TestPullIndexChoosesLinuxAmd64(t *testing.T) {
	s := newTestStore(t)
	reg := serveRegistry(t, "", "")
	amd := imageOf(t, v1.Config{Cmd: []string{"amd"}}, baseLayer(t), topLayer(t, "amd64"))
	arm := imageOf(t, v1.Config{Cmd: []string{"arm"}}, baseLayer(t), topLayer(t, "arm64"))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	r, err := name.ParseReference(reg + "/multi:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	got, err := s.Pull(ctx, reg+"/multi:v1", nil)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if got.ID != configID(t, amd) || got.RepoDigest != reg+"/multi@"+digestOf(t, idx) {
		t.Errorf("Pull = id %s repoDigest %s; want %s %s", got.ID, got.RepoDigest, configID(t, amd), reg+"/multi@"+digestOf(t, idx))
	}
	b, err := os.ReadFile(filepath.Join(got.Layers[1], "etc/motd"))
	if err != nil || string(b) != "amd64" {
		t.Errorf("top layer etc/motd = %q, %v; want amd64", b, err)
	}
}

func TestMissingImage(t *testing.T) {
	s := newTestStore(t)
	reg := serveRegistry(t, "", "")
	if _, err := s.Pull(ctx, reg+"/nothing:v1", nil); err == nil {
		t.Errorf("Pull of a missing image succeeded, want an error")
	}
	if _, _, err := s.Ensure(ctx, reg+"/nothing:v1", corev1.PullIfNotPresent, nil, nil); err == nil {
		t.Errorf("Ensure(IfNotPresent) of a missing image succeeded, want an error")
	}
	if _, err := s.Get(reg + "/nothing:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if names := dirNames(t, filepath.Join(s.Root(), "layers/sha256")); len(names) != 0 {
		t.Errorf("layers after failed pulls = %v, want none", names)
	}
}

func TestEnsurePolicies(t *testing.T) {
	s := newTestStore(t)
	reg := serveRegistry(t, "", "")
	imgA := imageOf(t, v1.Config{Cmd: []string{"a"}}, baseLayer(t), topLayer(t, "a"))
	imgB := imageOf(t, v1.Config{Cmd: []string{"b"}}, baseLayer(t), topLayer(t, "b"))
	push(t, reg+"/app:v1", imgA, nil)
	push(t, reg+"/app:latest", imgA, nil)
	idA, idB := configID(t, imgA), configID(t, imgB)

	steps := []struct {
		name       string
		pushB      bool // push imgB to :v1 and :latest before this step
		ref        string
		policy     corev1.PullPolicy
		wantID     string
		wantPulled bool
		wantErr    string
	}{
		{name: "never and absent", ref: "/app:v1", policy: corev1.PullNever,
			wantErr: `is not present with pull policy Never`},
		{name: "if-not-present and absent pulls", ref: "/app:v1", policy: corev1.PullIfNotPresent, wantID: idA, wantPulled: true},
		{name: "if-not-present and present", ref: "/app:v1", policy: corev1.PullIfNotPresent, wantID: idA},
		{name: "never and present", ref: "/app:v1", policy: corev1.PullNever, wantID: idA},
		{name: "if-not-present keeps the old image", pushB: true, ref: "/app:v1", policy: corev1.PullIfNotPresent, wantID: idA},
		{name: "always pulls the new image", ref: "/app:v1", policy: corev1.PullAlways, wantID: idB, wantPulled: true},
		{name: "default for a tag is if-not-present", ref: "/app:v1", policy: "", wantID: idB},
		{name: "default for no tag is always", ref: "/app", policy: "", wantID: idB, wantPulled: true},
		{name: "default for latest is always", ref: "/app:latest", policy: "", wantID: idB, wantPulled: true},
	}
	for _, st := range steps {
		if st.pushB {
			push(t, reg+"/app:v1", imgB, nil)
			push(t, reg+"/app:latest", imgB, nil)
		}
		got, pulled, err := s.Ensure(ctx, reg+st.ref, st.policy, nil, nil)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil || got.ID != st.wantID || pulled != st.wantPulled {
			t.Errorf("%s: id %s pulled %v err %v; want id %s pulled %v", st.name, got.ID, pulled, err, st.wantID, st.wantPulled)
		}
	}
}

func TestConcurrentEnsureUnpacksSharedBaseOnce(t *testing.T) {
	s := newTestStore(t)
	reg := serveRegistry(t, "", "")
	base := baseLayer(t)
	img1 := imageOf(t, v1.Config{Cmd: []string{"one"}}, base, topLayer(t, "one"))
	img2 := imageOf(t, v1.Config{Cmd: []string{"two"}}, base, topLayer(t, "two"))
	push(t, reg+"/one:v1", img1, nil)
	push(t, reg+"/two:v1", img2, nil)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		ref := reg + []string{"/one:v1", "/two:v1"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Ensure(ctx, ref, corev1.PullAlways, nil, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Ensure: %v", err)
		}
	}
	one, err1 := s.Get(reg + "/one:v1")
	two, err2 := s.Get(reg + "/two:v1")
	if err1 != nil || err2 != nil {
		t.Fatalf("Get: %v, %v", err1, err2)
	}
	if one.Layers[0] != two.Layers[0] || one.Layers[1] == two.Layers[1] {
		t.Errorf("layers one %v two %v; want the same base and different tops", one.Layers, two.Layers)
	}
	layers := dirNames(t, filepath.Join(s.Root(), "layers/sha256"))
	sort.Strings(layers)
	wantLayers := []string{hexOf(diffIDOf(t, base)), filepath.Base(one.Layers[1]), filepath.Base(two.Layers[1])}
	sort.Strings(wantLayers)
	if strings.Join(layers, ",") != strings.Join(wantLayers, ",") {
		t.Errorf("layer dirs = %v, want %v", layers, wantLayers)
	}
	if left := dirNames(t, filepath.Join(s.Root(), "tmp")); len(left) != 0 {
		t.Errorf("tmp after unpacking = %v, want empty", left)
	}
}

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }
