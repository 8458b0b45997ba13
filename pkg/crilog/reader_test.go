package crilog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// line is a Line in a form a test can write as a literal.
type line struct {
	time    string
	stream  Stream
	content string
	partial bool
}

func readAll(t *testing.T, r *Reader) ([]line, []int64) {
	t.Helper()
	var got []line
	var bad []int64
	for {
		l, err := r.Next()
		var pe *ParseError
		switch {
		case errors.Is(err, io.EOF):
			return got, bad
		case errors.As(err, &pe):
			bad = append(bad, pe.Offset)
			continue
		case err != nil:
			t.Fatalf("Next: %v", err)
		}
		got = append(got, line{l.Time.Format(TimeFormat), l.Stream, string(l.Content), l.Partial})
	}
}

func TestReader(t *testing.T) {
	cases := []struct {
		name    string
		log     string
		max     int
		want    []line
		wantBad []int64
	}{
		{
			name: "full lines",
			log: "2026-01-02T03:04:05.001Z stdout F a\n" +
				"2026-01-02T03:04:05.002Z stderr F b\n",
			want: []line{
				{"2026-01-02T03:04:05.001Z", Stdout, "a", false},
				{"2026-01-02T03:04:05.002Z", Stderr, "b", false},
			},
		},
		{
			name: "partials joined per stream",
			log: "2026-01-02T03:04:05.001Z stdout P ab\n" +
				"2026-01-02T03:04:05.002Z stderr F err\n" +
				"2026-01-02T03:04:05.003Z stdout P cd\n" +
				"2026-01-02T03:04:05.004Z stdout F ef\n" +
				"2026-01-02T03:04:05.005Z stdout F next\n",
			want: []line{
				{"2026-01-02T03:04:05.002Z", Stderr, "err", false},
				{"2026-01-02T03:04:05.001Z", Stdout, "abcdef", false},
				{"2026-01-02T03:04:05.005Z", Stdout, "next", false},
			},
		},
		{
			name: "unfinished lines at end, oldest first",
			log: "2026-01-02T03:04:05.001Z stderr P x\n" +
				"2026-01-02T03:04:05.002Z stdout P y\n" +
				"2026-01-02T03:04:05.003Z stderr P z",
			want: []line{
				{"2026-01-02T03:04:05.001Z", Stderr, "xz", true},
				{"2026-01-02T03:04:05.002Z", Stdout, "y", true},
			},
		},
		{
			name: "malformed entry skipped",
			log: "2026-01-02T03:04:05.001Z stdout F a\n" +
				"garbage\n" +
				"2026-01-02T03:04:05.002Z stdout F b\n",
			want: []line{
				{"2026-01-02T03:04:05.001Z", Stdout, "a", false},
				{"2026-01-02T03:04:05.002Z", Stdout, "b", false},
			},
			wantBad: []int64{36},
		},
		{
			name: "joined size bounded",
			max:  4,
			log: "2026-01-02T03:04:05.001Z stdout P abc\n" +
				"2026-01-02T03:04:05.002Z stdout P def\n" +
				"2026-01-02T03:04:05.003Z stdout F g\n",
			want: []line{
				{"2026-01-02T03:04:05.001Z", Stdout, "abcdef", true},
				{"2026-01-02T03:04:05.003Z", Stdout, "g", false},
			},
		},
		{
			name: "entry longer than the read buffer",
			log:  "2026-01-02T03:04:05.001Z stdout F " + strings.Repeat("x", 100000) + "\n",
			want: []line{{"2026-01-02T03:04:05.001Z", Stdout, strings.Repeat("x", 100000), false}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.log))
			r.MaxJoinedSize = tc.max
			got, bad := readAll(t, r)
			if len(got) != len(tc.want) {
				t.Fatalf("lines:\ngot  %+v\nwant %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("line %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if len(bad) != len(tc.wantBad) || (len(bad) > 0 && bad[0] != tc.wantBad[0]) {
				t.Errorf("malformed at %v, want %v", bad, tc.wantBad)
			}
		})
	}
}

func TestReaderFollow(t *testing.T) {
	var log bytes.Buffer
	r := NewReader(&log)
	r.Follow = true
	log.WriteString("2026-01-02T03:04:05.001Z stdout P ab\n2026-01-02T03:04:05.002Z stdout F c")
	if l, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next = %+v, %v; want io.EOF while the line is unfinished", l, err)
	}
	log.WriteString("d\n")
	l, err := r.Next()
	if err != nil {
		t.Fatalf("Next after growth: %v", err)
	}
	if string(l.Content) != "abcd" || l.Partial {
		t.Errorf("Next = %q partial=%v, want \"abcd\" partial=false", l.Content, l.Partial)
	}
}
