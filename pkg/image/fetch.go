package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// Platform is the only platform the store selects from an image index.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// unpackJobs bounds how many layers of one image are unpacked at once.
const unpackJobs = 3

// layerLocks serializes unpacking of the same diffID within this process;
// across processes the rename into place decides who wins.
var layerLocks sync.Map // diffID → *sync.Mutex

// Pull fetches an image from its registry (choosing linux/amd64 from an
// index), unpacks its layers and tags it. A nil auth means anonymous.
func (s *Store) Pull(ctx context.Context, ref string, auth authn.Authenticator) (Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return Image{}, fmt.Errorf("pull %q: %w", ref, err)
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	desc, err := remote.Get(r, remote.WithAuth(auth), remote.WithContext(ctx), remote.WithPlatform(Platform))
	if err != nil {
		return Image{}, fmt.Errorf("pull %q: %w", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return Image{}, fmt.Errorf("pull %q: %w", ref, err)
	}
	repoDigest := r.Context().Name() + "@" + desc.Digest.String()
	out, err := s.add(ctx, r.Name(), repoDigest, img)
	if err != nil {
		return Image{}, fmt.Errorf("pull %q: %w", ref, err)
	}
	klog.FromContext(ctx).V(2).Info("Pulled image", "image", out.Ref, "id", out.ID)
	return out, nil
}

// add unpacks img's layers, stores its manifest and config and points ref
// at it. It holds gc.lock shared so that Remove cannot collect the layers
// between their unpacking and the index update.
func (s *Store) add(ctx context.Context, ref, repoDigest string, img v1.Image) (Image, error) {
	unlock, err := s.lock("gc.lock", unix.LOCK_SH)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	rec, err := s.describe(img)
	if err != nil {
		return Image{}, err
	}
	rec.Ref, rec.RepoDigest = ref, repoDigest
	if err := s.unpackLayers(ctx, img); err != nil {
		return Image{}, err
	}
	err = s.updateIndex(func(idx *index) error {
		idx.Images[ref] = rec
		return nil
	})
	if err != nil {
		return Image{}, err
	}
	return s.withLayers(rec), nil
}

// describe reads an image's config and manifest, stores both as blobs and
// returns the image record without ref.
func (s *Store) describe(img v1.Image) (Image, error) {
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("read config: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("parse config: %w", err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return Image{}, fmt.Errorf("config digest: %w", err)
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return Image{}, fmt.Errorf("read manifest: %w", err)
	}
	mdigest, err := img.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("manifest digest: %w", err)
	}
	for h, b := range map[v1.Hash][]byte{id: rawCfg, mdigest: rawManifest} {
		if err := s.writeBlob(h, b); err != nil {
			return Image{}, err
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return Image{}, fmt.Errorf("list layers: %w", err)
	}
	rec := Image{
		ID:         id.String(),
		Manifest:   mdigest.String(),
		Entrypoint: cf.Config.Entrypoint,
		Cmd:        cf.Config.Cmd,
		Env:        cf.Config.Env,
		WorkingDir: cf.Config.WorkingDir,
		User:       cf.Config.User,
		DiffIDs:    make([]string, 0, len(layers)),
	}
	for _, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return Image{}, fmt.Errorf("layer diffID: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return Image{}, fmt.Errorf("layer %s size: %w", d, err)
		}
		rec.DiffIDs = append(rec.DiffIDs, d.String())
		rec.Size += size
	}
	return rec, nil
}

func (s *Store) writeBlob(h v1.Hash, b []byte) error {
	p := filepath.Join(s.blobDir(), h.Hex)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return writeFileAtomic(p, b, s.tmpDir())
}

// unpackLayers unpacks the layers of img that are not yet present, a few at
// a time.
func (s *Store) unpackLayers(ctx context.Context, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("list layers: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(unpackJobs)
	for _, l := range layers {
		g.Go(func() error { return s.ensureLayer(ctx, l) })
	}
	return g.Wait()
}

// ensureLayer unpacks one layer into layers/sha256/<diffID hex> unless it is
// already there. It unpacks into a temporary directory and renames it into
// place, so a crash never leaves a partial layer behind.
func (s *Store) ensureLayer(ctx context.Context, l v1.Layer) error {
	diffID, err := l.DiffID()
	if err != nil {
		return fmt.Errorf("layer diffID: %w", err)
	}
	final := s.layerPath(diffID.String())
	if _, err := os.Lstat(final); err == nil {
		return nil
	}
	mu, _ := layerLocks.LoadOrStore(diffID.String(), &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if _, err := os.Lstat(final); err == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-"+diffID.Hex[:12]+"-")
	if err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	defer os.RemoveAll(tmp)
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("open layer %s: %w", diffID, err)
	}
	defer rc.Close()
	if err := Unpack(rc, tmp); err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	if err := syncFS(tmp); err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return nil // another process unpacked it first
		}
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	klog.FromContext(ctx).V(4).Info("Unpacked layer", "diffID", diffID.String())
	return nil
}

// syncFS flushes the filesystem holding dir, so that the rename that
// publishes a layer never lands before its contents.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// isFullRef reports whether an OCI ref.name annotation names a repository
// rather than being only a tag such as "v1".
func isFullRef(s string) bool {
	return strings.ContainsAny(s, "/:@")
}
