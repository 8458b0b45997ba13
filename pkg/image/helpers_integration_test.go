//go:build integration

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// mtime is the modification time of every hand-made tar entry.
var mtime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// entry is one hand-made tar entry; Body is the content of regular files.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	Uid, Gid int
	Link     string
	Body     string
	Major    int64
	Minor    int64
	Xattrs   map[string]string
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this integration test needs root (lchown, mknod, trusted xattrs, overlay mounts)")
	}
}

// layerOf builds a gzip-compressed layer from hand-made entries.
func layerOf(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Uid: e.Uid, Gid: e.Gid,
			Linkname: e.Link, Size: int64(len(e.Body)), ModTime: mtime,
			Devmajor: e.Major, Devminor: e.Minor, Format: tar.FormatPAX,
		}
		if e.Type != tar.TypeReg {
			hdr.Size = 0
		}
		for k, v := range e.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("write header %s: %v", e.Name, err)
		}
		if _, err := io.WriteString(tw, e.Body); err != nil && e.Type == tar.TypeReg {
			t.Fatalf("write body %s: %v", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// baseLayer holds every kind of entry the unpacker must reproduce.
func baseLayer(t *testing.T) v1.Layer {
	return layerOf(t,
		entry{Name: "./", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "bin/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "bin/tool", Type: tar.TypeReg, Mode: 0o4755, Body: "#!/bin/tool\n",
			Xattrs: map[string]string{"user.note": "kept"}},
		entry{Name: "bin/link", Type: tar.TypeSymlink, Link: "tool"},
		entry{Name: "bin/hard", Type: tar.TypeLink, Link: "bin/tool"},
		entry{Name: "dev/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3},
		entry{Name: "dev/fifo", Type: tar.TypeFifo, Mode: 0o600},
		entry{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644, Body: "root:x:0:0::/:/bin/sh\n"},
		entry{Name: "home/app/", Type: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000},
		entry{Name: "home/app/owned", Type: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1001, Body: "mine"},
		entry{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		entry{Name: "data/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "data/keep", Type: tar.TypeReg, Mode: 0o644, Body: "keep"},
		entry{Name: "data/gone", Type: tar.TypeReg, Mode: 0o644, Body: "gone"},
		entry{Name: "opaque/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "opaque/old", Type: tar.TypeReg, Mode: 0o644, Body: "old"},
	)
}

// topLayer deletes data/gone and replaces the content of opaque/.
func topLayer(t *testing.T, motd string) v1.Layer {
	return layerOf(t,
		entry{Name: "data/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "data/.wh.gone", Type: tar.TypeReg, Mode: 0o644},
		entry{Name: "opaque/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "opaque/.wh..wh..opq", Type: tar.TypeReg, Mode: 0o644},
		entry{Name: "opaque/new", Type: tar.TypeReg, Mode: 0o644, Body: "new"},
		entry{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		entry{Name: "etc/motd", Type: tar.TypeReg, Mode: 0o644, Body: motd},
	)
}

// imageOf stacks layers on an empty image with a config.
func imageOf(t *testing.T, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// serveRegistry runs go-containerregistry's in-memory registry on
// 127.0.0.1; with a user it demands those basic-auth credentials.
func serveRegistry(t *testing.T, user, password string) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t *testing.T, ref string, img v1.Image, auth authn.Authenticator) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	requireRoot(t)
	s, err := NewStore(Config{Root: filepath.Join(t.TempDir(), "images")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func diffIDOf(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func configID(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func digestOf(t *testing.T, img interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// dirNames lists a directory's entry names.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// tarDir writes the regular files and directories below dir as a tar file.
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

var ctx = context.Background()
