package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelet-lite/kubelet-lite/pkg/logrotate"
)

// testLog is a CRI log of five lines on two streams, one of them written
// in two partial entries and the last one unfinished.
const testLog = "2026-01-02T03:04:01Z stdout F one\n" +
	"2026-01-02T03:04:02Z stderr F two\n" +
	"2026-01-02T03:04:03Z stdout P thr\n" +
	"2026-01-02T03:04:03.5Z stdout F ee\n" +
	"garbage that is skipped\n" +
	"2026-01-02T03:04:04Z stdout F four\n" +
	"2026-01-02T03:04:05.123Z stdout P fi"

func writeLog(t *testing.T, content string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "0.log")
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadLogOptions(t *testing.T) {
	since3 := time.Date(2026, 1, 2, 3, 4, 3, 0, time.UTC)
	cases := []struct {
		name string
		opts readOptions
		want string
	}{
		{
			name: "all",
			opts: readOptions{tail: -1, limit: -1},
			want: "one\ntwo\nthree\nfour\nfi",
		},
		{
			name: "tail 2",
			opts: readOptions{tail: 2, limit: -1},
			want: "four\nfi",
		},
		{
			name: "tail more than lines",
			opts: readOptions{tail: 10, limit: -1},
			want: "one\ntwo\nthree\nfour\nfi",
		},
		{
			name: "tail 0",
			opts: readOptions{tail: 0, limit: -1},
			want: "",
		},
		{
			name: "since",
			opts: readOptions{tail: -1, limit: -1, since: since3},
			want: "three\nfour\nfi",
		},
		{
			name: "since and tail",
			opts: readOptions{tail: 1, limit: -1, since: since3},
			want: "fi",
		},
		{
			name: "timestamps",
			opts: readOptions{tail: 3, limit: -1, timestamps: true},
			want: "2026-01-02T03:04:03Z three\n2026-01-02T03:04:04Z four\n2026-01-02T03:04:05.123Z fi",
		},
		{
			name: "limit bytes inside a line",
			opts: readOptions{tail: -1, limit: 10},
			want: "one\ntwo\nth",
		},
		{
			name: "limit bytes at a line end",
			opts: readOptions{tail: -1, limit: 8},
			want: "one\ntwo\n",
		},
	}
	path := writeLog(t, testLog)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			lr := &logRead{path: path, opts: tc.opts, w: &out}
			if err := lr.run(context.Background()); err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := out.String(); got != tc.want {
				t.Errorf("log = %q, want %q", got, tc.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer a follower writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if out.String() == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("followed log = %q, want %q", out.String(), want)
}

func appendLog(t *testing.T, f *os.File, entries ...string) {
	t.Helper()
	for _, e := range entries {
		if _, err := f.WriteString(e); err != nil {
			t.Fatal(err)
		}
	}
}

// follower starts a follow of path that runs while running is set and
// returns the output and a channel with run's result.
func follower(t *testing.T, path string, opts readOptions, running *atomic.Bool) (*syncBuffer, <-chan error) {
	t.Helper()
	out := &syncBuffer{}
	opts.follow = true
	lr := &logRead{path: path, opts: opts, w: out, running: running.Load}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { done <- lr.run(ctx) }()
	return out, done
}

func TestFollowAppendsAndStops(t *testing.T) {
	path := writeLog(t, "2026-01-02T03:04:01Z stdout F one\n2026-01-02T03:04:02Z stdout F two\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var running atomic.Bool
	running.Store(true)
	out, done := follower(t, path, readOptions{tail: 1, limit: -1}, &running)
	waitFor(t, out, "two\n")
	appendLog(t, f, "2026-01-02T03:04:03Z stdout P thr")
	time.Sleep(50 * time.Millisecond) // an entry written in part is not shown
	if got := out.String(); got != "two\n" {
		t.Fatalf("after an unfinished entry, log = %q, want %q", got, "two\n")
	}
	appendLog(t, f, "\n2026-01-02T03:04:04Z stdout F ee\n")
	waitFor(t, out, "two\nthree\n")
	appendLog(t, f, "2026-01-02T03:04:05Z stderr P last words")
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follow did not stop after the container stopped")
	}
	if got, want := out.String(), "two\nthree\nlast words"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func TestFollowAcrossCopyTruncate(t *testing.T) {
	path := writeLog(t, "2026-01-02T03:04:01Z stdout F one\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var running atomic.Bool
	running.Store(true)
	out, done := follower(t, path, readOptions{tail: -1, limit: -1}, &running)
	waitFor(t, out, "one\n")
	// Lines the follower has not read yet when the log is rotated come
	// from the rotated copy, then the live log goes on from its start.
	appendLog(t, f, "2026-01-02T03:04:02Z stdout F two\n", "2026-01-02T03:04:03Z stdout P thr\n")
	rot := &logrotate.Rotator{Dir: filepath.Dir(filepath.Dir(filepath.Dir(path))), MaxSize: 10}
	if err := rot.Rotate(path); err != nil {
		t.Fatal(err)
	}
	appendLog(t, f, "2026-01-02T03:04:03Z stdout F ee\n", "2026-01-02T03:04:04Z stdout F four\n")
	waitFor(t, out, "one\ntwo\nthree\nfour\n")
	// A truncate by anyone else: reading restarts at the start.
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	appendLog(t, f, "2026-01-02T03:04:05Z stdout F 5\n")
	waitFor(t, out, "one\ntwo\nthree\nfour\n5\n")
	running.Store(false)
	if err := <-done; err != nil {
		t.Fatalf("follow: %v", err)
	}
	rotated, _ := logrotate.Rotated(path)
	if len(rotated) != 1 {
		t.Errorf("rotated files = %q, want one", rotated)
	}
}

func TestFollowLimitBytes(t *testing.T) {
	path := writeLog(t, "2026-01-02T03:04:01Z stdout F one\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var running atomic.Bool
	running.Store(true)
	out, done := follower(t, path, readOptions{tail: -1, limit: 6}, &running)
	waitFor(t, out, "one\n")
	appendLog(t, f, "2026-01-02T03:04:02Z stdout F two\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follow did not stop at the byte limit")
	}
	if got := out.String(); got != "one\ntw" {
		t.Errorf("log = %q, want %q", got, "one\ntw")
	}
}

func TestFollowEndsWithClient(t *testing.T) {
	path := writeLog(t, "")
	var running atomic.Bool
	running.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	lr := &logRead{path: path, opts: readOptions{follow: true, tail: -1, limit: -1}, w: &syncBuffer{}, running: running.Load}
	go func() { done <- lr.run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follow did not stop when its client went away")
	}
	if !strings.HasSuffix(path, "0.log") {
		t.Fatal(path)
	}
}

// TestFollowAcrossRename checks a log replaced at its path, as a
// rename-and-reopen rotation does: the old file is read to its end, then
// the new one from its start.
func TestFollowAcrossRename(t *testing.T) {
	path := writeLog(t, "2026-01-02T03:04:01Z stdout F one\n")
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	var running atomic.Bool
	running.Store(true)
	out, done := follower(t, path, readOptions{tail: -1, limit: -1}, &running)
	waitFor(t, out, "one\n")
	if err := os.Rename(path, path+".20260102-030402"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, old, "2026-01-02T03:04:02Z stdout F two\n")
	if err := os.WriteFile(path, []byte("2026-01-02T03:04:03Z stdout F three\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "one\ntwo\nthree\n")
	running.Store(false)
	if err := <-done; err != nil {
		t.Fatalf("follow: %v", err)
	}
}
