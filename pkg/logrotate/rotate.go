package logrotate

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// Defaults of the kubelet's containerLogMaxSize and containerLogMaxFiles,
// and of its monitor period.
const (
	DefaultMaxSize  = 10 * 1024 * 1024
	DefaultMaxFiles = 5
	DefaultInterval = 10 * time.Second
)

// timestampFormat names rotated files, as the kubelet does.
const timestampFormat = "20060102-150405"

const (
	gzSuffix  = ".gz"
	tmpSuffix = ".tmp"
)

// Rotator rotates the latest log of each container under Dir, laid out as
// <Dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log.
type Rotator struct {
	// Dir is the pod log root, /var/log/pods.
	Dir string
	// MaxSize is the size beyond which a log is rotated; DefaultMaxSize if
	// not positive.
	MaxSize int64
	// MaxFiles is how many files of a log are kept, the live one included;
	// DefaultMaxFiles if less than 2.
	MaxFiles int
	// Interval is the scan period of Run; DefaultInterval if not positive.
	Interval time.Duration
	// Compress gzips rotated files but the newest.
	Compress bool
	// Now is the clock naming rotated files; time.Now if nil.
	Now func() time.Time
}

func (r *Rotator) maxSize() int64 {
	if r.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return r.MaxSize
}

func (r *Rotator) maxFiles() int {
	if r.MaxFiles < 2 {
		return DefaultMaxFiles
	}
	return r.MaxFiles
}

func (r *Rotator) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Run scans Dir every Interval until ctx is done. A failed scan is logged
// and retried at the next tick.
func (r *Rotator) Run(ctx context.Context) error {
	if r.Dir == "" {
		return errors.New("log rotator: no log directory")
	}
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	logger := klog.FromContext(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.RotateAll(); err != nil {
			logger.Error(err, "Failed to rotate container logs", "dir", r.Dir)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RotateAll rotates, compresses and prunes the latest log of every
// container under Dir once. It goes on past a failed container and returns
// all errors joined.
func (r *Rotator) RotateAll() error {
	dirs, err := filepath.Glob(filepath.Join(r.Dir, "*", "*"))
	if err != nil {
		return fmt.Errorf("list container log dirs: %w", err)
	}
	var errs []error
	for _, d := range dirs {
		latest, err := LatestLog(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if latest == "" {
			continue
		}
		if err := r.Rotate(latest); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LatestLog returns the log of the highest restart count in a container's
// log directory (<n>.log), or "" if there is none.
func LatestLog(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("read %s: %w", dir, err)
	}
	best := -1
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i > best {
			best = i
		}
	}
	if best < 0 {
		return "", nil
	}
	return filepath.Join(dir, strconv.Itoa(best)+".log"), nil
}

// Rotate rotates the live log at path if it is larger than MaxSize, then
// compresses and prunes its rotated files. Leftover temporary files of an
// interrupted rotation are removed first.
func (r *Rotator) Rotate(path string) error {
	if err := removeTemporary(path); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat log: %w", err)
	}
	if fi.Size() > r.maxSize() {
		if err := r.copyTruncate(path); err != nil {
			return err
		}
	}
	rotated, err := Rotated(path)
	if err != nil {
		return err
	}
	if excess := len(rotated) - (r.maxFiles() - 1); excess > 0 {
		for _, old := range rotated[:excess] {
			if err := os.Remove(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove rotated log: %w", err)
			}
		}
		rotated = rotated[excess:]
	}
	if r.Compress {
		for i := 0; i+1 < len(rotated); i++ {
			if err := compress(rotated[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rotated returns the rotated files of the live log at path, oldest first:
// <path>.<YYYYMMDD-HHMMSS>, gzipped ones with a .gz suffix.
func Rotated(path string) ([]string, error) {
	matches, err := filepath.Glob(path + ".*")
	if err != nil {
		return nil, fmt.Errorf("list rotated logs of %s: %w", path, err)
	}
	type rotated struct{ name, stamp string }
	var rs []rotated
	for _, m := range matches {
		stamp := strings.TrimSuffix(strings.TrimPrefix(m, path+"."), gzSuffix)
		if _, err := time.Parse(timestampFormat, stamp); err != nil {
			continue
		}
		rs = append(rs, rotated{m, stamp})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].stamp < rs[j].stamp })
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.name
	}
	return names, nil
}

// Open opens a log file of any form Rotated returns, decompressing a
// gzipped one.
func Open(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if !strings.HasSuffix(name, gzSuffix) {
		return f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log %s: %w", name, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// removeTemporary removes the temporary files a crashed rotation or
// compression of the log at path left behind.
func removeTemporary(path string) error {
	tmps, err := filepath.Glob(path + ".*" + tmpSuffix)
	if err != nil {
		return fmt.Errorf("list temporary logs of %s: %w", path, err)
	}
	for _, t := range tmps {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove temporary log: %w", err)
		}
	}
	return nil
}
