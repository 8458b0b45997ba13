package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotFound is returned (wrapped) when a reference is not in the store.
var ErrNotFound = errors.New("image not found")

// Config configures a Store.
type Config struct {
	// Root is the store's directory, e.g. /var/lib/kubelet-lite/images.
	Root string
}

// DefaultRoot returns where the image store lives below the agent's state
// root (the --root-dir of the run and images commands).
func DefaultRoot(rootDir string) string {
	return filepath.Join(rootDir, "images")
}

// Image is an image in the store, ready to be stacked as a root filesystem.
type Image struct {
	// Ref is the normalized reference, e.g. "kubelet-lite.local/busybox:v1".
	Ref string `json:"ref"`
	// ID is the config digest, "sha256:...".
	ID string `json:"id"`
	// RepoDigest is "repo@sha256:<manifest digest>", for containerStatus.imageID.
	RepoDigest string `json:"repoDigest"`

	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	User       string   `json:"user,omitempty"`

	// Layers are the absolute paths of the unpacked layer directories,
	// lowest (base) first. They are derived from DiffIDs on load.
	Layers []string `json:"-"`
	// DiffIDs are the uncompressed layer digests, lowest first.
	DiffIDs []string `json:"diffIDs"`
	// Manifest is the digest of the stored image manifest.
	Manifest string `json:"manifest"`
	// Size is the sum of the layer blob sizes in bytes.
	Size int64 `json:"size"`
}

// index is the on-disk record of all references.
type index struct {
	Images map[string]Image `json:"images"`
}

// Store is an image store rooted at a directory. It is safe for concurrent
// use by goroutines and by several processes sharing the same root.
type Store struct {
	root string
}

// NewStore creates the store's directories if needed.
func NewStore(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("image store: root directory is required")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("image store root %q: %w", cfg.Root, err)
	}
	s := &Store{root: root}
	for _, d := range []string{s.blobDir(), s.layerDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create image store: %w", err)
		}
	}
	if err := s.cleanTmp(); err != nil {
		return nil, err
	}
	return s, nil
}

// cleanTmp removes what a crashed unpack or removal left in tmp, if no
// other user of the store is busy (gc.lock is free).
func (s *Store) cleanTmp() error {
	unlock, err := s.lock("gc.lock", unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	return s.prune(s.tmpDir(), nil)
}

// Root returns the absolute root directory of the store.
func (s *Store) Root() string { return s.root }

func (s *Store) blobDir() string  { return filepath.Join(s.root, "blobs", "sha256") }
func (s *Store) layerDir() string { return filepath.Join(s.root, "layers", "sha256") }
func (s *Store) tmpDir() string   { return filepath.Join(s.root, "tmp") }
func (s *Store) indexPath() string {
	return filepath.Join(s.root, "index.json")
}

// layerPath returns the unpacked directory of a layer by its diffID.
func (s *Store) layerPath(diffID string) string {
	return filepath.Join(s.layerDir(), strings.TrimPrefix(diffID, "sha256:"))
}

// Get returns the image a reference (or an image ID "sha256:...") points at.
func (s *Store) Get(ref string) (Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return Image{}, err
	}
	if img, ok := lookup(idx, ref); ok {
		return s.withLayers(img), nil
	}
	return Image{}, fmt.Errorf("get %q: %w", ref, ErrNotFound)
}

// lookup finds an image by reference, by repo digest, or by image ID.
func lookup(idx index, ref string) (Image, bool) {
	if strings.HasPrefix(ref, "sha256:") {
		for _, k := range sortedRefs(idx) {
			if idx.Images[k].ID == ref {
				return idx.Images[k], true
			}
		}
		return Image{}, false
	}
	norm, err := NormalizeRef(ref)
	if err != nil {
		return Image{}, false
	}
	if img, ok := idx.Images[norm]; ok {
		return img, true
	}
	for _, k := range sortedRefs(idx) {
		if idx.Images[k].RepoDigest == norm {
			return idx.Images[k], true
		}
	}
	return Image{}, false
}

// List returns all images sorted by reference.
func (s *Store) List() ([]Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(idx.Images))
	for _, k := range sortedRefs(idx) {
		out = append(out, s.withLayers(idx.Images[k]))
	}
	return out, nil
}

// Remove drops a reference and then deletes every layer and blob that no
// remaining image uses. Removing a reference that is not there is success.
func (s *Store) Remove(ref string) error {
	unlock, err := s.lock("gc.lock", unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.updateIndex(func(idx *index) error {
		if img, ok := lookup(*idx, ref); ok {
			delete(idx.Images, img.Ref)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %q: %w", ref, err)
	}
	return s.collectGarbage()
}

func (s *Store) withLayers(img Image) Image {
	img.Layers = make([]string, len(img.DiffIDs))
	for i, d := range img.DiffIDs {
		img.Layers[i] = s.layerPath(d)
	}
	return img
}

func sortedRefs(idx index) []string {
	refs := make([]string, 0, len(idx.Images))
	for k := range idx.Images {
		refs = append(refs, k)
	}
	sort.Strings(refs)
	return refs
}

// readIndex reads index.json; it is replaced atomically, so no lock is needed.
func (s *Store) readIndex() (index, error) {
	idx := index{Images: map[string]Image{}}
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return idx, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("parse image index %s: %w", s.indexPath(), err)
	}
	if idx.Images == nil {
		idx.Images = map[string]Image{}
	}
	return idx, nil
}

// updateIndex applies fn to the index under an exclusive lock and writes it
// back atomically.
func (s *Store) updateIndex(fn func(*index) error) error {
	unlock, err := s.lock("index.lock", unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(&idx); err != nil {
		return err
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image index: %w", err)
	}
	return writeFileAtomic(s.indexPath(), b, s.tmpDir())
}

// lock takes a flock on a file in the root. Locks on separate open files
// conflict even within one process, so goroutines are covered too.
func (s *Store) lock(name string, how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, name), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", name, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

// collectGarbage removes layers and blobs not referenced by any image.
// The caller holds gc.lock exclusively, so no unpack is in progress.
func (s *Store) collectGarbage() error {
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	keepLayers := map[string]bool{}
	keepBlobs := map[string]bool{}
	for _, img := range idx.Images {
		for _, d := range img.DiffIDs {
			keepLayers[strings.TrimPrefix(d, "sha256:")] = true
		}
		keepBlobs[strings.TrimPrefix(img.ID, "sha256:")] = true
		keepBlobs[strings.TrimPrefix(img.Manifest, "sha256:")] = true
	}
	if err := s.prune(s.layerDir(), keepLayers); err != nil {
		return err
	}
	if err := s.prune(s.blobDir(), keepBlobs); err != nil {
		return err
	}
	// Nothing else runs while gc.lock is held exclusively, so whatever is
	// left in tmp was left by a crash.
	return s.prune(s.tmpDir(), nil)
}

// prune removes the entries of dir not in keep. Each is first renamed into
// tmp so that a crash never leaves a half-deleted layer in place.
func (s *Store) prune(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if dir == s.tmpDir() {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("prune %s: %w", e.Name(), err)
			}
			continue
		}
		trash, err := os.MkdirTemp(s.tmpDir(), "rm-")
		if err != nil {
			return fmt.Errorf("prune %s: %w", e.Name(), err)
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(trash, e.Name())); err != nil {
			return fmt.Errorf("prune %s: %w", e.Name(), err)
		}
		if err := os.RemoveAll(trash); err != nil {
			return fmt.Errorf("prune %s: %w", e.Name(), err)
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte, tmpDir string) error {
	f, err := os.CreateTemp(tmpDir, filepath.Base(path)+".")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}
