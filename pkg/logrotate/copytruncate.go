package logrotate

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// maxCopyPasses bounds the passes that copy what the writer appended during
// the previous pass before the live log is truncated.
const maxCopyPasses = 4

// copyTruncate copies the live log at path to <path>.<timestamp> and
// truncates it to 0. The copy is written to a temporary file, synced and
// renamed, so a crash leaves either no rotated file or a whole one (and the
// live log untruncated). Appends that race with the last pass are repeated
// in up to maxCopyPasses passes, and what came during the sync and rename is
// appended to the rotated file; only what is appended between that last
// stat and the truncate is lost.
func (r *Rotator) copyTruncate(path string) error {
	dst := path + "." + r.now().Format(timestampFormat)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("rotate log %s: %s exists", path, dst)
	}
	src, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer src.Close()
	tmp := dst + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("create rotated log: %w", err)
	}
	defer os.Remove(tmp) // after a successful rename, a no-op
	defer out.Close()
	var copied int64
	for pass := 0; pass < maxCopyPasses; pass++ {
		fi, err := src.Stat()
		if err != nil {
			return fmt.Errorf("stat log: %w", err)
		}
		if fi.Size() <= copied {
			break
		}
		n, err := io.Copy(out, io.NewSectionReader(src, copied, fi.Size()-copied))
		copied += n
		if err != nil {
			return fmt.Errorf("copy log %s: %w", path, err)
		}
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("sync rotated log: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close rotated log: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("rename rotated log: %w", err)
	}
	// What was appended during the sync and rename goes to the rotated
	// file too, so only the stat-to-truncate window can lose lines.
	if err := catchUp(src, dst, copied); err != nil {
		return err
	}
	if err := src.Truncate(0); err != nil {
		return fmt.Errorf("truncate log %s: %w", path, err)
	}
	return nil
}

// catchUp appends to the rotated file dst what the live log src holds
// beyond its first copied bytes.
func catchUp(src *os.File, dst string, copied int64) error {
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("stat log: %w", err)
	}
	if fi.Size() <= copied {
		return nil
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open rotated log: %w", err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(src, copied, fi.Size()-copied)); err != nil {
		return fmt.Errorf("copy log %s: %w", src.Name(), err)
	}
	return out.Close()
}

// compress gzips the rotated log at name to name.gz and removes name; a
// name already compressed is left alone.
func compress(name string) error {
	if strings.HasSuffix(name, gzSuffix) {
		return nil
	}
	in, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open rotated log: %w", err)
	}
	defer in.Close()
	tmp := name + gzSuffix + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("create compressed log: %w", err)
	}
	defer os.Remove(tmp)
	defer out.Close()
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		return fmt.Errorf("compress %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", name, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close compressed log: %w", err)
	}
	if err := os.Rename(tmp, name+gzSuffix); err != nil {
		return fmt.Errorf("rename compressed log: %w", err)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove compressed log: %w", err)
	}
	return nil
}
