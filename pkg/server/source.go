package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/kubelet-lite/kubelet-lite/pkg/logrotate"
)

// fileReader reads a file that may grow from pos on, through ReadAt, so
// that reading at the end is not final.
type fileReader struct {
	f   *os.File
	pos int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.pos)
	r.pos += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// source is the byte stream of a container's log across its rotations: the
// live file, and after a copy-then-truncate rotation first the part of the
// rotated copy not read yet, then the live file again from its start.
type source struct {
	path    string
	live    *os.File
	cur     *fileReader // the live file
	before  []io.ReadCloser
	rotated string // the newest rotated file when last checked
}

func openSource(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	s := &source{path: path, live: f, cur: &fileReader{f: f}}
	s.rotated, err = newestRotated(path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func newestRotated(path string) (string, error) {
	rs, err := logrotate.Rotated(path)
	if err != nil || len(rs) == 0 {
		return "", err
	}
	return rs[len(rs)-1], nil
}

// Read reads the queued rotated parts first, then the live file. At the
// live file's end it returns io.EOF, and more once the file grows.
func (s *source) Read(p []byte) (int, error) {
	for len(s.before) > 0 {
		n, err := s.before[0].Read(p)
		if errors.Is(err, io.EOF) {
			s.before[0].Close()
			s.before = s.before[1:]
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return s.cur.Read(p)
}

// checkRotation notices a rotation of the live log since the last check
// and queues what was not read of it. Called at the end of the stream.
//
// A copy-then-truncate shows as a new newest rotated file with the live
// file shorter than it, or as a live file shorter than what was read;
// what the copy holds beyond the read position is then read first. A log
// replaced at its path (renamed away and created anew) is read from the
// new file's start.
func (s *source) checkRotation() error {
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat log: %w", err)
	}
	cur, err := s.live.Stat()
	if err != nil {
		return fmt.Errorf("stat log: %w", err)
	}
	if !os.SameFile(fi, cur) {
		return s.reopen()
	}
	newest, err := newestRotated(s.path)
	if err != nil {
		return err
	}
	if newest != s.rotated && newest != "" {
		copied, err := os.Stat(newest)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stat rotated log: %w", err)
		}
		if err == nil && fi.Size() < copied.Size() {
			s.rotated = newest
			return s.readCopy(newest)
		}
		return nil // copied, not truncated yet
	}
	if fi.Size() < s.cur.pos {
		s.cur.pos = 0 // truncated without a copy
	}
	return nil
}

// readCopy queues the rest of a rotated copy after the read position and
// rewinds to the start of the live log.
func (s *source) readCopy(name string) error {
	rc, err := logrotate.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		s.cur.pos = 0
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := io.CopyN(io.Discard, rc, s.cur.pos); err != nil && !errors.Is(err, io.EOF) {
		rc.Close()
		return fmt.Errorf("skip read part of %s: %w", name, err)
	}
	s.before = append(s.before, rc)
	s.cur.pos = 0
	return nil
}

// reopen queues the rest of the replaced file and reads the new one.
func (s *source) reopen() error {
	f, err := os.Open(s.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("reopen log: %w", err)
	}
	old := *s.cur
	s.before = append(s.before, struct {
		io.Reader
		io.Closer
	}{&old, old.f})
	s.live, s.cur = f, &fileReader{f: f}
	s.rotated, err = newestRotated(s.path)
	return err
}

func (s *source) Close() error {
	for _, b := range s.before {
		b.Close()
	}
	return s.live.Close()
}
