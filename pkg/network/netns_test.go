package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPodNetNS(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, wantErr string
	}{
		{"empty", "", "is no network namespace"},
		{"a /proc path", "/proc/self/ns/net", "is under /proc: pin it with PinNetNS first"},
		{"a /proc path in disguise", "/proc/../proc/1/ns/net", "is under /proc"},
		{"plain file", plain, "is no network namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPodNetNS(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("checkPodNetNS(%q) = %v, want an error with %q", tc.path, err, tc.wantErr)
			}
		})
	}
}

func TestUsableNetNS(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"empty", "", ""},
		{"missing", filepath.Join(dir, "gone"), ""},
		{"plain file (an unmounted bind mount)", plain, ""},
		{"a namespace", "/proc/self/ns/net", "/proc/self/ns/net"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := usableNetNS(tc.path); got != tc.want {
				t.Errorf("usableNetNS(%q) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}
