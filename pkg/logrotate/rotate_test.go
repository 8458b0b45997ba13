package logrotate

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// clock returns a clock that starts at 2026-01-02 03:04:05 UTC and moves
// one second per call.
func clock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, name, content string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// listDir returns "name=content" of each file in dir, gzipped ones
// decompressed.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		rc, err := Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Name()+"="+string(b))
	}
	return got
}

func TestRotate(t *testing.T) {
	cases := []struct {
		name     string
		maxFiles int
		compress bool
		appends  []string // each followed by one Rotate
		want     []string
	}{
		{
			name:    "below max size stays",
			appends: []string{"12345678"},
			want:    []string{"0.log=12345678"},
		},
		{
			name:    "over max size is copied and truncated",
			appends: []string{"123456789"},
			want:    []string{"0.log=", "0.log.20260102-030405=123456789"},
		},
		{
			name:     "oldest pruned beyond max files",
			maxFiles: 3,
			appends:  []string{"aaaaaaaaa", "bbbbbbbbb", "ccccccccc", "dd"},
			want: []string{
				"0.log=dd",
				"0.log.20260102-030406=bbbbbbbbb",
				"0.log.20260102-030407=ccccccccc",
			},
		},
		{
			name:     "all but the newest rotated compressed",
			maxFiles: 4,
			compress: true,
			appends:  []string{"aaaaaaaaa", "bbbbbbbbb", "ccccccccc"},
			want: []string{
				"0.log=",
				"0.log.20260102-030405.gz=aaaaaaaaa",
				"0.log.20260102-030406.gz=bbbbbbbbb",
				"0.log.20260102-030407=ccccccccc",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "0.log")
			writeFile(t, log, "")
			r := &Rotator{Dir: dir, MaxSize: 8, MaxFiles: tc.maxFiles, Compress: tc.compress, Now: clock()}
			for _, a := range tc.appends {
				appendFile(t, log, a)
				if err := r.Rotate(log); err != nil {
					t.Fatalf("Rotate: %v", err)
				}
			}
			if got := listDir(t, dir); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRotateKeepsAppendWriter checks that a writer holding the log open with
// O_APPEND, as a container's PID 1 does, writes at the start of the
// truncated log.
func TestRotateKeepsAppendWriter(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "0.log")
	w, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("first line\n"); err != nil {
		t.Fatal(err)
	}
	r := &Rotator{Dir: dir, MaxSize: 4, Now: clock()}
	if err := r.Rotate(log); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("second\n"); err != nil {
		t.Fatal(err)
	}
	want := []string{"0.log=second\n", "0.log.20260102-030405=first line\n"}
	if got := listDir(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func TestRotateAll(t *testing.T) {
	root := t.TempDir()
	ctr := filepath.Join(root, "default_web_uid1", "app")
	writeFile(t, filepath.Join(ctr, "0.log"), "old attempt, large")
	writeFile(t, filepath.Join(ctr, "2.log"), "current attempt")
	writeFile(t, filepath.Join(ctr, "10.log"), "newest attempt")
	writeFile(t, filepath.Join(ctr, "10.log.20260101-000000.tmp"), "crashed rotation")
	other := filepath.Join(root, "default_db_uid2", "db")
	writeFile(t, filepath.Join(other, "0.log"), "small")
	r := &Rotator{Dir: root, MaxSize: 8, Now: clock()}
	if err := r.RotateAll(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0.log=old attempt, large",
		"10.log=",
		"10.log.20260102-030405=newest attempt",
		"2.log=current attempt",
	}
	if got := listDir(t, ctr); !reflect.DeepEqual(got, want) {
		t.Errorf("container files = %q, want %q", got, want)
	}
	if got, want := listDir(t, other), []string{"0.log=small"}; !reflect.DeepEqual(got, want) {
		t.Errorf("other container files = %q, want %q", got, want)
	}
}

func TestRotated(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "3.log")
	for _, n := range []string{
		"3.log", "3.log.20260102-030405", "3.log.20260101-235959.gz", "3.log.20260102-030406",
		"3.log.20260102-030407.tmp", "3.log.notastamp", "30.log.20260101-000000", "4.log.20260101-000000",
	} {
		writeFile(t, filepath.Join(dir, n), "x")
	}
	got, err := Rotated(log)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, strings.TrimPrefix(g, dir+"/"))
	}
	want := []string{"3.log.20260101-235959.gz", "3.log.20260102-030405", "3.log.20260102-030406"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Rotated = %q, want %q", names, want)
	}
}

func TestCompressedIsGzip(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "0.log.20260102-030405")
	writeFile(t, name, "content\n")
	if err := compress(name); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil || string(b) != "content\n" {
		t.Errorf("decompressed = %q, %v; want %q", b, err, "content\n")
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("uncompressed file still there: %v", err)
	}
}
