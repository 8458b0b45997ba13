package crilog

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// stepClock returns a clock that starts at 2026-01-02T03:04:05Z and advances
// by 1ms per call, so each entry's timestamp is distinct and predictable.
func stepClock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Millisecond)
		return t
	}
}

// calls records each Write call separately.
type calls []string

func (c *calls) Write(p []byte) (int, error) {
	*c = append(*c, string(p))
	return len(p), nil
}

func TestWriter(t *testing.T) {
	cases := []struct {
		name   string
		stream Stream
		writes []string
		want   []string // one string per Write call on the underlying writer
	}{
		{
			name:   "one line",
			writes: []string{"hello\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stdout F hello\n"},
		},
		{
			name:   "stderr",
			stream: Stderr,
			writes: []string{"oops\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stderr F oops\n"},
		},
		{
			name:   "two lines in one write",
			writes: []string{"a b\nc\n"},
			want: []string{
				"2026-01-02T03:04:05.001Z stdout F a b\n",
				"2026-01-02T03:04:05.002Z stdout F c\n",
			},
		},
		{
			name:   "line across writes",
			writes: []string{"he", "llo", "\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stdout F hello\n"},
		},
		{
			name:   "empty line",
			writes: []string{"\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stdout F \n"},
		},
		{
			name:   "crlf removed",
			writes: []string{"ab\r\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stdout F ab\n"},
		},
		{
			name:   "lone cr kept",
			writes: []string{"a\rb\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stdout F a\rb\n"},
		},
		{
			name:   "exactly max",
			writes: []string{"abcde\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stdout F abcde\n"},
		},
		{
			name:   "one over max",
			writes: []string{"abcdef\n"},
			want: []string{
				"2026-01-02T03:04:05.001Z stdout P abcde\n",
				"2026-01-02T03:04:05.002Z stdout F f\n",
			},
		},
		{
			name:   "twice max",
			writes: []string{"abcdefghij\n"},
			want: []string{
				"2026-01-02T03:04:05.001Z stdout P abcde\n",
				"2026-01-02T03:04:05.002Z stdout F fghij\n",
			},
		},
		{
			name:   "byte by byte",
			writes: strings.Split("abcdefghijkl\n", ""),
			want: []string{
				"2026-01-02T03:04:05.001Z stdout P abcde\n",
				"2026-01-02T03:04:05.002Z stdout P fghij\n",
				"2026-01-02T03:04:05.003Z stdout F kl\n",
			},
		},
		{
			name:   "crlf split after max",
			writes: []string{"abcde\r", "\n"},
			want:   []string{"2026-01-02T03:04:05.001Z stdout F abcde\n"},
		},
		{
			name:   "cr after max is content",
			writes: []string{"abcde\r", "x\n"},
			want: []string{
				"2026-01-02T03:04:05.001Z stdout P abcde\n",
				"2026-01-02T03:04:05.002Z stdout F \rx\n",
			},
		},
		{
			name:   "unterminated last line",
			writes: []string{"a\nbc"},
			want: []string{
				"2026-01-02T03:04:05.001Z stdout F a\n",
				"2026-01-02T03:04:05.002Z stdout P bc\n",
			},
		},
		{
			name:   "unterminated last line over max",
			writes: []string{"abcdefg"},
			want: []string{
				"2026-01-02T03:04:05.001Z stdout P abcde\n",
				"2026-01-02T03:04:05.002Z stdout P fg\n",
			},
		},
		{
			name:   "unterminated cr after max",
			writes: []string{"abcde\r"},
			want: []string{
				"2026-01-02T03:04:05.001Z stdout P abcde\n",
				"2026-01-02T03:04:05.002Z stdout P \r\n",
			},
		},
		{
			name:   "nothing",
			writes: []string{"", ""},
			want:   nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.stream
			if stream == "" {
				stream = Stdout
			}
			var got calls
			w := NewWriter(&got, stream, stepClock(), 5)
			for _, s := range tc.writes {
				n, err := w.Write([]byte(s))
				if err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if !equal(got, tc.want) {
				t.Errorf("entries:\ngot  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriterDefaultMaxLineSize(t *testing.T) {
	var got calls
	w := NewWriter(&got, Stdout, stepClock(), 0)
	line := strings.Repeat("x", 40000) + "\n"
	if _, err := w.ReadFrom(strings.NewReader(line)); err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	want := []struct {
		tag  string
		size int
	}{{"P", 16384}, {"P", 16384}, {"F", 7232}}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		prefix := "2026-01-02T03:04:05.00" + string(rune('1'+i)) + "Z stdout " + want[i].tag + " "
		if !strings.HasPrefix(e, prefix) {
			t.Errorf("entry %d starts %q, want %q", i, e[:40], prefix)
		}
		if n := len(e) - len(prefix) - 1; n != want[i].size {
			t.Errorf("entry %d has %d content bytes, want %d", i, n, want[i].size)
		}
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("disk full")
}

func TestWriterKeepsDrainingOnWriteError(t *testing.T) {
	f := &failingWriter{}
	w := NewWriter(f, Stdout, stepClock(), 5)
	n, err := w.ReadFrom(strings.NewReader("a\nb\nc\n"))
	if n != 6 {
		t.Errorf("ReadFrom read %d bytes, want 6", n)
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("ReadFrom error = %v, want the write error", err)
	}
	if f.n != 3 {
		t.Errorf("underlying writes = %d, want 3", f.n)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	in := "first\n\nsecond line with spaces\r\n" + strings.Repeat("0123456789", 3) + "\nlast"
	var buf bytes.Buffer
	w := NewWriter(&buf, Stderr, stepClock(), 7)
	if _, err := w.ReadFrom(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf)
	var got []string
	for {
		l, err := r.Next()
		if err != nil {
			break
		}
		got = append(got, string(l.Content))
	}
	want := []string{"first", "", "second line with spaces", strings.Repeat("0123456789", 3), "last"}
	if !equal(got, want) {
		t.Errorf("lines:\ngot  %q\nwant %q", got, want)
	}
}
