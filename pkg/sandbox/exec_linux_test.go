package sandbox

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"testing"
)

func TestStatusIDs(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    procIDs
		wantErr bool
	}{
		{"root", "Name:\tinit\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", procIDs{uid: 0, gid: 0}, false},
		{"effective ids and groups", "Uid:\t1000\t1001\t1000\t1001\nGid:\t2000\t2001\t2000\t2001\nGroups:\t2000 3000 \n",
			procIDs{uid: 1001, gid: 2001, groups: []int{2000, 3000}}, false},
		{"no gid", "Uid:\t0\t0\t0\t0\n", procIDs{}, true},
		{"bad uid", "Uid:\tx\tx\tx\tx\nGid:\t0\t0\t0\t0\n", procIDs{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statusIDs([]byte(tc.status))
			if (err != nil) != tc.wantErr {
				t.Fatalf("statusIDs error = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("statusIDs = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// sliceWriter is a writer type that cannot be compared with ==.
type sliceWriter []byte

func (sliceWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestSameWriter(t *testing.T) {
	var a, b bytes.Buffer
	tests := []struct {
		name string
		x, y io.Writer
		want bool
	}{
		{"same buffer", &a, &a, true},
		{"two buffers", &a, &b, false},
		{"nil", nil, nil, false},
		{"one nil", &a, nil, false},
		{"file and buffer", os.Stdout, &a, false},
		{"uncomparable type", sliceWriter{}, sliceWriter{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameWriter(tc.x, tc.y); got != tc.want {
				t.Errorf("sameWriter = %v, want %v", got, tc.want)
			}
		})
	}
}
