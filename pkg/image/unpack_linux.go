package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI layer format and their overlayfs equivalents.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	overlayOpaque  = "trusted.overlay.opaque"
	paxXattrPrefix = "SCHILY.xattr."
)

// Unpack writes an uncompressed layer tar stream into dir so that dir can
// be used as an overlayfs lowerdir: ".wh.NAME" becomes a 0/0 character
// device NAME and ".wh..wh..opq" marks its directory opaque with the
// trusted.overlay.opaque xattr. Ownership, modes, xattrs and mtimes are
// kept; entries whose path or hardlink target leaves dir are refused.
// It needs root (lchown, mknod, trusted xattrs).
func Unpack(r io.Reader, dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	type dirTime struct {
		path  string
		mtime time.Time
	}
	var dirs []dirTime
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		target, err := unpackEntry(dir, hdr, tr)
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir && target != "" {
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		}
	}
	// Directory mtimes last: creating their children changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setTimes(dirs[i].path, dirs[i].mtime); err != nil {
			return fmt.Errorf("set mtime of %s: %w", dirs[i].path, err)
		}
	}
	return nil
}

// cleanRel returns name relative to the layer root, refusing escapes.
func cleanRel(name string) (string, error) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("path %q escapes the layer", name)
	}
	return rel, nil
}

// resolve returns the host path of rel inside root: its parent directory is
// resolved with symlinks evaluated inside root, the last element is not.
func resolve(root, rel string) (string, error) {
	if rel == "." {
		return root, nil
	}
	parent, err := securejoin.SecureJoin(root, path.Dir(rel))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, path.Base(rel)), nil
}

// unpackEntry creates one tar entry and returns its host path ("" for
// entries that leave no file of their own name, such as an opaque marker).
func unpackEntry(root string, hdr *tar.Header, r io.Reader) (string, error) {
	rel, err := cleanRel(hdr.Name)
	if err != nil {
		return "", err
	}
	target, err := resolve(root, rel)
	if err != nil {
		return "", err
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return "", errors.New("layer root must be a directory")
		}
	} else if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", err
	}
	base := path.Base(rel)
	switch {
	case base == whiteoutOpaque:
		return "", unix.Lsetxattr(filepath.Dir(target), overlayOpaque, []byte("y"), 0)
	case strings.HasPrefix(base, whiteoutPrefix):
		hidden := filepath.Join(filepath.Dir(target), strings.TrimPrefix(base, whiteoutPrefix))
		if err := os.RemoveAll(hidden); err != nil {
			return "", err
		}
		return "", unix.Mknod(hidden, unix.S_IFCHR, int(unix.Mkdev(0, 0)))
	}
	if err := clearFor(target, hdr.Typeflag); err != nil {
		return "", err
	}
	if err := create(root, target, hdr, r); err != nil {
		return "", err
	}
	if hdr.Typeflag == tar.TypeLink {
		return target, nil // shares the inode and metadata of its target
	}
	return target, setMetadata(target, hdr)
}

// clearFor removes what is at target unless both it and the new entry are
// directories (a later entry for the same path replaces an earlier one).
func clearFor(target string, typ byte) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() && typ == tar.TypeDir {
		return nil
	}
	return os.RemoveAll(target)
}

func create(root, target string, hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		return nil
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives still use '\x00'
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case tar.TypeSymlink:
		return os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		rel, err := cleanRel(hdr.Linkname)
		if err != nil {
			return err
		}
		src, err := resolve(root, rel)
		if err != nil {
			return err
		}
		return os.Link(src, target)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		return unix.Mknod(target, mode|uint32(hdr.Mode&0o7777), int(dev))
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
}

// setMetadata applies owner, xattrs, mode and (for non-directories) mtime.
// chown comes before chmod because chown clears set-id bits.
func setMetadata(target string, hdr *tar.Header) error {
	if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	for k, v := range hdr.PAXRecords {
		if !strings.HasPrefix(k, paxXattrPrefix) {
			continue
		}
		err := unix.Lsetxattr(target, strings.TrimPrefix(k, paxXattrPrefix), []byte(v), 0)
		if err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set xattr %s: %w", k, err)
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Chmod(target, uint32(hdr.Mode&0o7777)); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	return setTimes(target, hdr.ModTime)
}

func setTimes(target string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// extractPlain extracts the directories and regular files of an OCI image
// layout archive; nothing else belongs in one.
func extractPlain(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := cleanRel(hdr.Name)
		if err != nil {
			return err
		}
		target := filepath.Join(dir, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives still use '\x00'
			err = writePlain(target, tr)
		}
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

func writePlain(target string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
