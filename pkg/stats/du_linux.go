package stats

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// diskUsage is what a tree (or a set of files) takes on its filesystem.
type diskUsage struct {
	bytes  uint64 // allocated blocks × 512, as du and upstream's fs.DiskUsage count
	inodes uint64
}

// dirUsage walks the tree at root as upstream's fs.DiskUsage does (the one
// behind the kubelet's emptyDir, configMap and etc-hosts metrics): it counts
// every inode once (root included, hard links once), adds up allocated
// blocks rather than apparent sizes (a sparse file takes what it has
// written), and does not descend into other filesystems mounted below root.
// Files that vanish during the walk are not counted.
func dirUsage(root string) (diskUsage, error) {
	var top unix.Stat_t
	if err := unix.Lstat(root, &top); err != nil {
		return diskUsage{}, fmt.Errorf("disk usage of %s: %w", root, err)
	}
	var u diskUsage
	seen := map[uint64]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return fmt.Errorf("lstat %s: %w", path, err)
		}
		if st.Dev != top.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		u.add(st, seen)
		return nil
	})
	if err != nil {
		return diskUsage{}, fmt.Errorf("disk usage of %s: %w", root, err)
	}
	return u, nil
}

// filesUsage is the usage of the files directly in dir, not of dir itself
// nor of its subdirectories: upstream's measure of a log directory
// (/var/log/pods/<pod>/ and /var/log/pods/<pod>/<container>/).
func filesUsage(dir string) (diskUsage, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return diskUsage{}, fmt.Errorf("disk usage of the files in %s: %w", dir, err)
	}
	var u diskUsage
	seen := map[uint64]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		var st unix.Stat_t
		p := filepath.Join(dir, e.Name())
		if err := unix.Lstat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return diskUsage{}, fmt.Errorf("disk usage of the files in %s: lstat %s: %w", dir, p, err)
		}
		u.add(st, seen)
	}
	return u, nil
}

// add counts one inode, unless it is a hard link already counted.
func (u *diskUsage) add(st unix.Stat_t, seen map[uint64]bool) {
	if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if seen[st.Ino] {
			return
		}
		seen[st.Ino] = true
	}
	u.bytes += uint64(st.Blocks) * 512
	u.inodes++
}
