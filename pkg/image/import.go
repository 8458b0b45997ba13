package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// Annotations that name an image in an OCI image layout's index.json.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerdRef = "io.containerd.image.name"
)

// Import loads every tagged image of a docker-save tarball (manifest.json)
// or an OCI image-layout tarball (index.json); path may also be an OCI
// image-layout directory.
func (s *Store) Import(ctx context.Context, path string) ([]Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	var imgs []Image
	switch {
	case fi.IsDir():
		imgs, err = s.importLayout(ctx, path)
	default:
		var format string
		format, err = archiveFormat(path)
		if err != nil {
			break
		}
		if format == "docker" {
			imgs, err = s.importDocker(ctx, path)
		} else {
			imgs, err = s.importOCIArchive(ctx, path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("import %s: no tagged image in archive", path)
	}
	return imgs, nil
}

// archiveFormat tells a docker-save archive ("docker") from an OCI layout
// archive ("oci"). Newer docker-save archives carry both files; their
// manifest.json has the full tags, so it wins.
func archiveFormat(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	oci := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read archive: %w", err)
		}
		switch path.Clean(hdr.Name) {
		case "manifest.json":
			return "docker", nil
		case "index.json":
			oci = true
		}
	}
	if oci {
		return "oci", nil
	}
	return "", errors.New("neither manifest.json nor index.json in archive")
}

func (s *Store) importDocker(ctx context.Context, p string) ([]Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(p) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, desc := range m {
		if len(desc.RepoTags) == 0 {
			klog.FromContext(ctx).Info("Skipping untagged image in archive", "archive", p, "config", desc.Config)
		}
		for _, t := range desc.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("tag %q: %w", t, err)
			}
			img, err := tarball.Image(opener, &tag)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", t, err)
			}
			rec, err := s.addWithDigest(ctx, tag, img)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", t, err)
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// addWithDigest adds an image whose repo digest is its own manifest digest.
func (s *Store) addWithDigest(ctx context.Context, ref name.Reference, img v1.Image) (Image, error) {
	d, err := img.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("manifest digest: %w", err)
	}
	return s.add(ctx, ref.Name(), ref.Context().Name()+"@"+d.String(), img)
}

// importOCIArchive extracts an OCI layout archive into tmp and imports it.
func (s *Store) importOCIArchive(ctx context.Context, p string) ([]Image, error) {
	// Hold gc.lock shared so that a concurrent Remove does not clean tmp
	// under the extracted layout.
	unlock, err := s.lock("gc.lock", unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir, err := os.MkdirTemp(s.tmpDir(), "oci-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := extractPlain(f, dir); err != nil {
		return nil, fmt.Errorf("extract layout: %w", err)
	}
	return s.importLayout(ctx, dir)
}

func (s *Store) importLayout(ctx context.Context, dir string) ([]Image, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, desc := range im.Manifests {
		ref := layoutRef(desc)
		if ref == "" {
			klog.FromContext(ctx).Info("Skipping image without a full reference in layout", "layout", dir, "digest", desc.Digest.String())
			continue
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", ref, err)
		}
		img, err := layoutImage(idx, desc)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		rec, err := s.add(ctx, r.Name(), r.Context().Name()+"@"+desc.Digest.String(), img)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// layoutRef returns the full reference an index.json entry names, or "".
func layoutRef(desc v1.Descriptor) string {
	if r := desc.Annotations[annotationContainerdRef]; r != "" {
		return r
	}
	if r := desc.Annotations[annotationRefName]; isFullRef(r) {
		return r
	}
	return ""
}

// layoutImage resolves an index.json entry to an image, choosing Platform
// from a nested index.
func layoutImage(idx v1.ImageIndex, desc v1.Descriptor) (v1.Image, error) {
	if !desc.MediaType.IsIndex() {
		return idx.Image(desc.Digest)
	}
	child, err := idx.ImageIndex(desc.Digest)
	if err != nil {
		return nil, err
	}
	cm, err := child.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, m := range cm.Manifests {
		if m.Platform != nil && m.Platform.Satisfies(Platform) && m.MediaType.IsImage() {
			return child.Image(m.Digest)
		}
	}
	return nil, fmt.Errorf("no %s/%s image in index %s", Platform.OS, Platform.Architecture, desc.Digest)
}
