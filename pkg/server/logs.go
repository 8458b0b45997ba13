package server

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/crilog"
)

// followPoll bounds how long a follower waits without a file event before
// it looks at the log and asks whether the container still runs.
const followPoll = time.Second

// errLimit ends a read that has written limitBytes.
var errLimit = errors.New("byte limit reached")

// lineWriter writes log lines as `kubectl logs` shows them: the content
// and a line break, with the RFC 3339 time in front if timestamps are
// asked for, cut at a byte limit.
type lineWriter struct {
	w io.Writer
	// stderr gets the stderr lines when set (attach); else w gets all.
	stderr     io.Writer
	timestamps bool
	remaining  int64 // -1 for no limit
	buf        []byte
}

func (lw *lineWriter) write(l crilog.Line) error {
	b := lw.buf[:0]
	if lw.timestamps {
		b = l.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, ' ')
	}
	b = append(b, l.Content...)
	if !l.Partial {
		b = append(b, '\n')
	}
	lw.buf = b
	w := lw.w
	if lw.stderr != nil && l.Stream == crilog.Stderr {
		w = lw.stderr
	}
	if lw.remaining >= 0 && int64(len(b)) >= lw.remaining {
		b = b[:lw.remaining]
		lw.remaining = 0
		if _, err := w.Write(b); err != nil {
			return err
		}
		return errLimit
	}
	if lw.remaining >= 0 {
		lw.remaining -= int64(len(b))
	}
	_, err := w.Write(b)
	return err
}

// logRead is one read of a container's log.
type logRead struct {
	path    string
	opts    readOptions
	running func() bool // whether the log may still grow; nil: it may not
	w       io.Writer
	stderr  io.Writer // gets the stderr lines when set; else w gets all
	flush   func()    // pushes what was written to the client; may be nil
}

// run writes the log to w as opts say: the lines since opts.since, only
// the last opts.tail of them if set; with opts.follow then the lines that
// are appended, across rotations, until ctx is done or the container has
// stopped and its log is drained.
func (lr *logRead) run(ctx context.Context) error {
	src, err := openSource(lr.path)
	if err != nil {
		return err
	}
	defer src.Close()
	r := crilog.NewReader(src)
	r.Follow = lr.opts.follow
	lw := &lineWriter{w: lr.w, stderr: lr.stderr, timestamps: lr.opts.timestamps, remaining: lr.opts.limit}
	err = lr.initial(ctx, r, lw)
	if err == nil && lr.opts.follow {
		err = lr.follow(ctx, r, src, lw)
	}
	if errors.Is(err, errLimit) {
		err = nil
	}
	lr.doFlush()
	return err
}

func (lr *logRead) doFlush() {
	if lr.flush != nil {
		lr.flush()
	}
}

// next returns the next line at or after opts.since, skipping malformed
// entries, or io.EOF.
func (lr *logRead) next(ctx context.Context, r *crilog.Reader) (crilog.Line, error) {
	for {
		l, err := r.Next()
		var pe *crilog.ParseError
		if errors.As(err, &pe) {
			klog.FromContext(ctx).V(4).Info("Skipping malformed log entry", "path", lr.path, "offset", pe.Offset, "err", pe.Err)
			continue
		}
		if err != nil {
			return l, err
		}
		if !lr.opts.since.IsZero() && l.Time.Before(lr.opts.since) {
			continue
		}
		return l, nil
	}
}

// initial writes what the log holds now.
func (lr *logRead) initial(ctx context.Context, r *crilog.Reader, lw *lineWriter) error {
	if lr.opts.tail < 0 {
		return lr.drain(ctx, r, lw)
	}
	if lr.opts.tail == 0 {
		return skipAll(ctx, lr, r)
	}
	// The last lines are kept in a ring while the log is read forward:
	// simple, and fast enough for logs bounded by rotation.
	ring := make([]crilog.Line, lr.opts.tail)
	var n int64
	for {
		l, err := lr.next(ctx, r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		slot := &ring[n%lr.opts.tail]
		content := append(slot.Content[:0], l.Content...)
		*slot = l
		slot.Content = content
		n++
	}
	start := int64(0)
	if n > lr.opts.tail {
		start = n - lr.opts.tail
	}
	for i := start; i < n; i++ {
		if err := lw.write(ring[i%lr.opts.tail]); err != nil {
			return err
		}
	}
	return nil
}

func skipAll(ctx context.Context, lr *logRead, r *crilog.Reader) error {
	for {
		if _, err := lr.next(ctx, r); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// drain writes lines up to the current end of the log.
func (lr *logRead) drain(ctx context.Context, r *crilog.Reader, lw *lineWriter) error {
	for {
		l, err := lr.next(ctx, r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := lw.write(l); err != nil {
			return err
		}
	}
}

// follow writes what is appended to the log. It wakes on file events in
// the log's directory or every followPoll; once it has seen the container
// not running, it drains the log once more, unfinished lines included, and
// returns.
func (lr *logRead) follow(ctx context.Context, r *crilog.Reader, src *source, lw *lineWriter) error {
	events, errs, stop := watchDir(ctx, filepath.Dir(lr.path))
	defer stop()
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		lr.doFlush()
		stopped := lr.running == nil || !lr.running()
		if err := src.checkRotation(); err != nil {
			return err
		}
		if stopped {
			r.Follow = false // return unfinished lines too
			return lr.drain(ctx, r, lw)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-events:
		case err := <-errs:
			klog.FromContext(ctx).V(2).Info("Log watch error, polling", "path", lr.path, "err", err)
		case <-t.C:
		}
		if err := lr.drain(ctx, r, lw); err != nil {
			return err
		}
	}
}

// watchDir watches dir for file events. Without a watch (out of inotify
// instances, say) it returns nil channels, and the follower only polls.
func watchDir(ctx context.Context, dir string) (<-chan fsnotify.Event, <-chan error, func()) {
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(dir); err == nil {
			return w.Events, w.Errors, func() { w.Close() }
		}
		w.Close()
	}
	klog.FromContext(ctx).V(2).Info("Cannot watch log directory, polling", "dir", dir, "err", err)
	return nil, nil, func() {}
}
