package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	maxFileName    = 255
	maxPath        = 4096
)

// file is one file of a payload.
type file struct {
	data []byte
	mode os.FileMode
	// uid, when not nil, owns the file (else the agent's user does).
	uid *int64
}

// payload maps user-visible relative paths to their content.
type payload map[string]file

// validatePath rejects a payload path that is empty, absolute, too long,
// has a ".." element or starts with "..", the prefix the writer reserves.
func validatePath(p string) error {
	switch {
	case p == "":
		return errors.New("invalid path: must not be empty")
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid path %q: must be relative", p)
	case len(p) > maxPath:
		return fmt.Errorf("invalid path: longer than %d characters", maxPath)
	}
	elems := strings.Split(p, "/")
	for _, e := range elems {
		if e == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
		if len(e) > maxFileName {
			return fmt.Errorf("invalid path %q: file names must be at most %d characters", p, maxFileName)
		}
	}
	if strings.HasPrefix(elems[0], "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	return nil
}

// writeAtomic projects pl into dir (which must exist) with upstream's
// AtomicWriter scheme: the files go into a new timestamped directory, the
// "..data" symlink is swapped to it with one rename, the top-level names
// are symlinks through "..data", and names no longer in pl disappear. When
// every file already has the wanted content and mode and none is to be
// removed, nothing is written. gid, when not nil, is the fsGroup: files get
// that group and at least mode 0440. It reports whether it wrote.
func writeAtomic(dir string, pl payload, gid *int64) (bool, error) {
	clean := make(payload, len(pl))
	for p, f := range pl {
		if err := validatePath(p); err != nil {
			return false, err
		}
		if gid != nil {
			f.mode |= 0o440
		}
		clean[filepath.Clean(p)] = f
	}
	dataPath := filepath.Join(dir, dataDirName)
	oldTs, err := os.Readlink(dataPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", dataPath, err)
	}
	var remove []string
	if oldTs != "" {
		oldTsPath := filepath.Join(dir, oldTs)
		if remove, err = pathsToRemove(clean, oldTsPath); err != nil {
			return false, err
		}
		same, err := sameContent(clean, oldTsPath)
		if err != nil {
			return false, err
		}
		if same && len(remove) == 0 {
			return false, nil
		}
	}
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("create data directory: %w", err)
	}
	if err := swapData(dir, tsDir, clean, gid); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}
	if err := removeVisible(dir, remove); err != nil {
		return true, err
	}
	if oldTs != "" {
		if err := os.RemoveAll(filepath.Join(dir, oldTs)); err != nil {
			return true, fmt.Errorf("remove old data directory: %w", err)
		}
	}
	return true, nil
}

// swapData writes pl into tsDir, creates the user-visible symlinks and
// points "..data" at tsDir.
func swapData(dir, tsDir string, pl payload, gid *int64) error {
	// 0755 lets group and others traverse whatever the umask.
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return fmt.Errorf("chmod data directory: %w", err)
	}
	for p, f := range pl {
		if err := writeFile(filepath.Join(tsDir, p), f, gid); err != nil {
			return err
		}
	}
	for _, top := range topNames(pl) {
		link := filepath.Join(dir, top)
		if _, err := os.Readlink(link); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("user-visible path %s is not a symlink: %w", link, err)
		}
		if err := os.Symlink(filepath.Join(dataDirName, top), link); err != nil {
			return fmt.Errorf("create user-visible symlink: %w", err)
		}
	}
	tmp := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(tsDir), tmp); err != nil {
		return fmt.Errorf("create %s: %w", newDataDirName, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDirName)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("swap %s: %w", dataDirName, err)
	}
	return nil
}

// writeFile writes one file with exactly f.mode (whatever the umask).
func writeFile(path string, f file, gid *int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	if err := os.WriteFile(path, f.data, f.mode); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if f.uid != nil || gid != nil {
		uid, g := -1, -1
		if f.uid != nil {
			uid = int(*f.uid)
		}
		if gid != nil {
			g = int(*gid)
		}
		if err := os.Chown(path, uid, g); err != nil {
			return fmt.Errorf("chown %s to %d:%d: %w", filepath.Base(path), uid, g, err)
		}
	}
	if err := os.Chmod(path, f.mode); err != nil {
		return fmt.Errorf("chmod %s: %w", filepath.Base(path), err)
	}
	return nil
}

// topNames are the distinct first elements of the payload's paths, sorted.
func topNames(pl payload) []string {
	seen := map[string]bool{}
	var names []string
	for p := range pl {
		top, _, _ := strings.Cut(p, "/")
		if !seen[top] {
			seen[top] = true
			names = append(names, top)
		}
	}
	sort.Strings(names)
	return names
}

// sameContent reports whether every file of pl exists in oldTsDir with the
// same content, permission bits and (when pl sets one) owner.
func sameContent(pl payload, oldTsDir string) (bool, error) {
	for p, f := range pl {
		path := filepath.Join(oldTsDir, p)
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", path, err)
		}
		if !st.Mode().IsRegular() || st.Mode().Perm() != f.mode.Perm() {
			return false, nil
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && f.uid != nil && int64(sys.Uid) != *f.uid {
			return false, nil
		}
		old, err := os.ReadFile(path)
		if err != nil {
			return false, fmt.Errorf("read %s: %w", path, err)
		}
		if !bytes.Equal(old, f.data) {
			return false, nil
		}
	}
	return true, nil
}

// pathsToRemove lists the paths of the old data directory that pl no longer
// has (neither as a file nor as a parent directory of one), sorted.
func pathsToRemove(pl payload, oldTsDir string) ([]string, error) {
	keep := map[string]bool{}
	for p := range pl {
		for q := p; q != "." && q != "/"; q = filepath.Dir(q) {
			keep[q] = true
		}
	}
	var remove []string
	err := filepath.WalkDir(oldTsDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(oldTsDir, path)
		if err != nil || rel == "." {
			return err
		}
		if !keep[rel] {
			remove = append(remove, rel)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walk old data directory: %w", err)
	}
	return remove, nil
}

// removeVisible removes the user-visible symlinks of removed top-level
// names; deeper paths vanish with the old data directory.
func removeVisible(dir string, paths []string) error {
	var errs []error
	for _, p := range paths {
		if strings.Contains(p, "/") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove old user-visible path: %w", err))
		}
	}
	return errors.Join(errs...)
}
