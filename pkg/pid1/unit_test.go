package pid1

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    options
		wantErr bool
	}{
		{
			name: "defaults",
			args: []string{"--log-fd=3", "--exit-fd=4", "--", "sh", "-c", "echo hi"},
			want: options{logFD: 3, exitFD: 4, maxLineSize: 16384, drainTimeout: time.Second,
				argv: []string{"sh", "-c", "echo hi"}},
		},
		{
			name: "all flags, app flags after --",
			args: []string{"--log-fd", "5", "--exit-fd=6", "--max-line-size=10", "--drain-timeout=250ms", "--", "app", "--log-fd=9"},
			want: options{logFD: 5, exitFD: 6, maxLineSize: 10, drainTimeout: 250 * time.Millisecond,
				argv: []string{"app", "--log-fd=9"}},
		},
		{
			name: "no -- before a command",
			args: []string{"--log-fd=3", "--exit-fd=4", "true"},
			want: options{logFD: 3, exitFD: 4, maxLineSize: 16384, drainTimeout: time.Second, argv: []string{"true"}},
		},
		{name: "no command", args: []string{"--log-fd=3", "--exit-fd=4", "--"}, wantErr: true},
		{name: "no log fd", args: []string{"--exit-fd=4", "--", "true"}, wantErr: true},
		{name: "no exit fd", args: []string{"--log-fd=3", "--", "true"}, wantErr: true},
		{name: "same fds", args: []string{"--log-fd=3", "--exit-fd=3", "--", "true"}, wantErr: true},
		{name: "stdio fd", args: []string{"--log-fd=1", "--exit-fd=4", "--", "true"}, wantErr: true},
		{name: "zero line size", args: []string{"--log-fd=3", "--exit-fd=4", "--max-line-size=0", "--", "true"}, wantErr: true},
		{name: "negative drain", args: []string{"--log-fd=3", "--exit-fd=4", "--drain-timeout=-1s", "--", "true"}, wantErr: true},
		{name: "unknown flag", args: []string{"--log-fd=3", "--exit-fd=4", "--verbose", "--", "true"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args, io.Discard)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseArgs(%q) = %+v, want an error", tc.args, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		name       string
		ws         unix.WaitStatus // raw wait(2) status word
		wantCode   int
		wantSignal int
	}{
		{name: "exit 0", ws: 0x0000, wantCode: 0},
		{name: "exit 7", ws: 0x0700, wantCode: 7},
		{name: "exit 255", ws: 0xff00, wantCode: 255},
		{name: "SIGTERM", ws: 0x000f, wantCode: 143, wantSignal: 15},
		{name: "SIGKILL", ws: 0x0009, wantCode: 137, wantSignal: 9},
		{name: "SIGSEGV with core", ws: 0x008b, wantCode: 139, wantSignal: 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, sig := exitCode(tc.ws)
			if code != tc.wantCode || sig != tc.wantSignal {
				t.Errorf("exitCode(%#x) = %d, %d; want %d, %d", uint32(tc.ws), code, sig, tc.wantCode, tc.wantSignal)
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("a/tool", 0o755)
	mk("a/plain", 0o644)
	mk("b/plain", 0o755)
	mk("b/onlyplain", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "a/subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cases := []struct {
		name     string
		cmd      string
		path     string
		want     string // relative to dir when it has no leading "/" or "."
		wantCode int
	}{
		{name: "found in first dir", cmd: "tool", path: a + ":" + b, want: "a/tool"},
		{name: "non-executable skipped for a later one", cmd: "plain", path: a + ":" + b, want: "b/plain"},
		{name: "only non-executable", cmd: "onlyplain", path: a + ":" + b, wantCode: 126},
		{name: "directory skipped", cmd: "subdir", path: a, wantCode: 127},
		{name: "not found", cmd: "nope", path: a + ":" + b, wantCode: 127},
		{name: "empty PATH element is the current dir", cmd: "x", path: ":" + a, want: "./x"},
		{name: "slash used as is", cmd: "./whatever", path: a, want: "./whatever"},
		{name: "absolute used as is", cmd: "/no/such", path: a, want: "/no/such"},
		{name: "empty command", cmd: "", path: a, wantCode: 127},
	}
	t.Chdir(dir)
	mk("x", 0o755)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, serr := lookPath(tc.cmd, tc.path)
			if tc.wantCode != 0 {
				if serr == nil || serr.code != tc.wantCode {
					t.Fatalf("lookPath(%q) = %q, %v; want code %d", tc.cmd, got, serr, tc.wantCode)
				}
				return
			}
			want := tc.want
			if want[0] != '/' && want[0] != '.' {
				want = filepath.Join(dir, want)
			}
			if serr != nil || got != want {
				t.Errorf("lookPath(%q) = %q, %v; want %q", tc.cmd, got, serr, want)
			}
		})
	}
}
