//go:build integration

package image

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func refs(imgs []Image) string {
	var out []string
	for _, img := range imgs {
		out = append(out, img.Ref)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// layerHexes lists the diffID hexes of layers, sorted and comma-separated.
func layerHexes(t *testing.T, layers ...v1.Layer) string {
	var hexes []string
	for _, l := range layers {
		hexes = append(hexes, hexOf(diffIDOf(t, l)))
	}
	sort.Strings(hexes)
	return strings.Join(hexes, ",")
}

// layerDirs lists the unpacked layer directories, sorted and comma-separated.
func layerDirs(t *testing.T, s *Store) string {
	names := dirNames(t, filepath.Join(s.Root(), "layers/sha256"))
	sort.Strings(names)
	return strings.Join(names, ",")
}

func TestImportDockerSaveListRemove(t *testing.T) {
	s := newTestStore(t)
	base, top1, top2 := baseLayer(t), topLayer(t, "one"), topLayer(t, "two")
	img1 := imageOf(t, v1.Config{Cmd: []string{"one"}}, base, top1)
	img2 := imageOf(t, v1.Config{Cmd: []string{"two"}}, base, top2)
	tag1, _ := name.NewTag("kubelet-lite.local/one:v1")
	tag1b, _ := name.NewTag("kubelet-lite.local/one:stable")
	tag2, _ := name.NewTag("kubelet-lite.local/two:v1")
	archive := filepath.Join(t.TempDir(), "save.tar")
	err := tarball.MultiRefWriteToFile(archive, map[name.Reference]v1.Image{tag1: img1, tag1b: img1, tag2: img2})
	if err != nil {
		t.Fatal(err)
	}

	imported, err := s.Import(ctx, archive)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	const wantRefs = "kubelet-lite.local/one:stable,kubelet-lite.local/one:v1,kubelet-lite.local/two:v1"
	if got := refs(imported); got != wantRefs {
		t.Errorf("Import refs = %s, want %s", got, wantRefs)
	}
	list, err := s.List()
	if err != nil || refs(list) != wantRefs {
		t.Fatalf("List = %s, %v; want %s", refs(list), err, wantRefs)
	}
	one, err := s.Get("kubelet-lite.local/one:v1")
	if err != nil {
		t.Fatal(err)
	}
	if one.ID != configID(t, img1) || one.RepoDigest != "kubelet-lite.local/one@"+digestOf(t, img1) {
		t.Errorf("one = id %s repoDigest %s; want %s %s", one.ID, one.RepoDigest, configID(t, img1), "kubelet-lite.local/one@"+digestOf(t, img1))
	}
	b, err := os.ReadFile(filepath.Join(one.Layers[1], "etc/motd"))
	if err != nil || string(b) != "one" {
		t.Errorf("one's top layer etc/motd = %q, %v; want one", b, err)
	}
	wantLayers := func(layers ...v1.Layer) string { return layerHexes(t, layers...) }
	gotLayers := func() string { return layerDirs(t, s) }
	if got, want := gotLayers(), wantLayers(base, top1, top2); got != want {
		t.Errorf("layer dirs = %s, want %s (the shared base once)", got, want)
	}

	steps := []struct {
		remove     string
		wantLayers string
		wantRefs   string
	}{
		{"kubelet-lite.local/one:v1", wantLayers(base, top1, top2), "kubelet-lite.local/one:stable,kubelet-lite.local/two:v1"},
		{"kubelet-lite.local/one:stable", wantLayers(base, top2), "kubelet-lite.local/two:v1"},
		{"kubelet-lite.local/one:stable", wantLayers(base, top2), "kubelet-lite.local/two:v1"},
		{configID(t, img2), "", ""},
	}
	for _, st := range steps {
		if err := s.Remove(st.remove); err != nil {
			t.Fatalf("Remove(%s): %v", st.remove, err)
		}
		list, err := s.List()
		if err != nil || refs(list) != st.wantRefs || gotLayers() != st.wantLayers {
			t.Errorf("after Remove(%s): refs %s layers %s (%v); want refs %s layers %s",
				st.remove, refs(list), gotLayers(), err, st.wantRefs, st.wantLayers)
		}
	}
	if _, err := s.Get("kubelet-lite.local/two:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove = %v, want ErrNotFound", err)
	}
	for _, d := range []string{"blobs/sha256", "tmp"} {
		if left := dirNames(t, filepath.Join(s.Root(), d)); len(left) != 0 {
			t.Errorf("%s after removing everything = %v, want empty", d, left)
		}
	}
}

func TestImportOCILayout(t *testing.T) {
	s := newTestStore(t)
	img := imageOf(t, v1.Config{Cmd: []string{"oci"}}, baseLayer(t), topLayer(t, "oci"))
	other := imageOf(t, v1.Config{Cmd: []string{"tag-only"}}, baseLayer(t))
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: "kubelet-lite.local/oci:v1"})); err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(other, layout.WithAnnotations(map[string]string{annotationRefName: "v2"})); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, dir, archive)

	for _, path := range []string{archive, dir} {
		imported, err := s.Import(ctx, path)
		if err != nil {
			t.Fatalf("Import(%s): %v", path, err)
		}
		if len(imported) != 1 || imported[0].Ref != "kubelet-lite.local/oci:v1" || imported[0].ID != configID(t, img) ||
			imported[0].RepoDigest != "kubelet-lite.local/oci@"+digestOf(t, img) {
			t.Errorf("Import(%s) = %+v; want only kubelet-lite.local/oci:v1 id %s", path, imported, configID(t, img))
		}
	}
	got, err := s.Get("kubelet-lite.local/oci:v1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(got.Layers[1], "etc/motd")); err != nil || string(b) != "oci" {
		t.Errorf("etc/motd = %q, %v; want oci", b, err)
	}
}

func TestImportRejectsBadArchives(t *testing.T) {
	s := newTestStore(t)
	dir := t.TempDir()
	notImage := filepath.Join(dir, "plain.tar")
	tarDir(t, t.TempDir(), notImage)
	escape := filepath.Join(dir, "escape.tar")
	tag, _ := name.NewTag("kubelet-lite.local/escape:v1")
	bad := imageOf(t, v1.Config{}, layerOf(t, entry{Name: "../evil", Type: tar.TypeReg, Mode: 0o644, Body: "x"}))
	if err := tarball.WriteToFile(escape, tag, bad); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{"missing file", filepath.Join(dir, "nope.tar"), "no such file or directory"},
		{"not an image archive", notImage, "neither manifest.json nor index.json in archive"},
		{"path escaping the layer", escape, `entry "../evil": path "../evil" escapes the layer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Import(ctx, tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Import error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if left := dirNames(t, filepath.Join(s.Root(), "layers/sha256")); len(left) != 0 {
		t.Errorf("layers after failed imports = %v, want none", left)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "layers", "evil")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("escaped file exists: %v", err)
	}
}

// TestUnpackSymlinkStaysInside checks that a path through a symlink to an
// absolute directory lands inside the layer, not on the host.
func TestUnpackSymlinkStaysInside(t *testing.T) {
	requireRoot(t)
	outside := t.TempDir()
	l := layerOf(t,
		entry{Name: "esc", Type: tar.TypeSymlink, Link: outside},
		entry{Name: "esc/file", Type: tar.TypeReg, Mode: 0o644, Body: "x"},
		entry{Name: "up", Type: tar.TypeSymlink, Link: "../../../../.."},
		entry{Name: "up/file2", Type: tar.TypeReg, Mode: 0o644, Body: "y"},
	)
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dir := t.TempDir()
	if err := Unpack(rc, dir); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if left := dirNames(t, outside); len(left) != 0 {
		t.Errorf("files written outside the layer: %v", left)
	}
	for _, rel := range []string{filepath.Join(outside, "file"), "file2"} {
		if _, err := os.Lstat(filepath.Join(dir, rel)); err != nil {
			t.Errorf("%s not inside the layer: %v", rel, err)
		}
	}
}
