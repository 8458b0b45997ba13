package crilog

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 1000000, time.UTC)
	cases := []struct {
		name    string
		line    string
		want    Entry
		wantErr bool
	}{
		{
			name: "full",
			line: "2026-01-02T03:04:05.001Z stdout F hello world\n",
			want: Entry{Time: ts, Stream: Stdout, Content: []byte("hello world")},
		},
		{
			name: "partial without newline",
			line: "2026-01-02T03:04:05.001Z stderr P part",
			want: Entry{Time: ts, Stream: Stderr, Partial: true, Content: []byte("part")},
		},
		{
			name: "empty content",
			line: "2026-01-02T03:04:05.001Z stdout F \n",
			want: Entry{Time: ts, Stream: Stdout, Content: []byte("")},
		},
		{
			name: "later tags ignored",
			line: "2026-01-02T03:04:05.001Z stdout P:x:y z\n",
			want: Entry{Time: ts, Stream: Stdout, Partial: true, Content: []byte("z")},
		},
		{
			name: "other time zone",
			line: "2026-01-02T04:04:05.001+01:00 stdout F a\n",
			want: Entry{Time: ts, Stream: Stdout, Content: []byte("a")},
		},
		{name: "empty", line: "", wantErr: true},
		{name: "no stream", line: "2026-01-02T03:04:05.001Z", wantErr: true},
		{name: "bad time", line: "yesterday stdout F a", wantErr: true},
		{name: "bad stream", line: "2026-01-02T03:04:05.001Z stdin F a", wantErr: true},
		{name: "no tag", line: "2026-01-02T03:04:05.001Z stdout F", wantErr: true},
		{name: "bad tag", line: "2026-01-02T03:04:05.001Z stdout X a", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.line))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse(%q) error = %v, want ErrMalformed", tc.line, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.line, err)
			}
			if !got.Time.Equal(tc.want.Time) || got.Stream != tc.want.Stream ||
				got.Partial != tc.want.Partial || string(got.Content) != string(tc.want.Content) {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.line, got, tc.want)
			}
		})
	}
}
