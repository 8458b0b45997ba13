package volume

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "file"), "x")
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dir", filepath.Join(dir, "link-to-dir")); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	tests := []struct {
		name     string
		path     string
		typ      corev1.HostPathType
		wantErr  string
		wantMode string // of path afterwards, "" to skip
	}{
		{name: "unset type, missing path", path: "missing", typ: corev1.HostPathUnset},
		{name: "DirectoryOrCreate creates 0755", path: "new/deep", typ: corev1.HostPathDirectoryOrCreate, wantMode: "drwxr-xr-x"},
		{name: "DirectoryOrCreate on a file", path: "file", typ: corev1.HostPathDirectoryOrCreate, wantErr: "is not a directory"},
		{name: "Directory", path: "dir", typ: corev1.HostPathDirectory, wantMode: "drwx------"},
		{name: "Directory through a symlink", path: "link-to-dir", typ: corev1.HostPathDirectory},
		{name: "Directory missing", path: "missing", typ: corev1.HostPathDirectory, wantErr: "missing is not a directory"},
		{name: "Directory on a file", path: "file", typ: corev1.HostPathDirectory, wantErr: "is not a directory"},
		{name: "FileOrCreate creates 0644", path: "newfile", typ: corev1.HostPathFileOrCreate, wantMode: "-rw-r--r--"},
		{name: "FileOrCreate without parent", path: "nodir/f", typ: corev1.HostPathFileOrCreate, wantErr: "no such file or directory"},
		{name: "FileOrCreate on a dir", path: "dir", typ: corev1.HostPathFileOrCreate, wantErr: "is not a file"},
		{name: "File", path: "file", typ: corev1.HostPathFile},
		{name: "File missing", path: "missing", typ: corev1.HostPathFile, wantErr: "is not a file"},
		{name: "File on a socket", path: "sock", typ: corev1.HostPathFile, wantErr: "is not a file"},
		{name: "Socket", path: "sock", typ: corev1.HostPathSocket},
		{name: "Socket on a file", path: "file", typ: corev1.HostPathSocket, wantErr: "is not a socket file"},
		{name: "CharDevice", path: "/dev/null", typ: corev1.HostPathCharDev},
		{name: "CharDevice on a file", path: "file", typ: corev1.HostPathCharDev, wantErr: "is not a character device"},
		{name: "BlockDevice on a char device", path: "/dev/null", typ: corev1.HostPathBlockDev, wantErr: "is not a block device"},
		{name: "BlockDevice missing", path: "missing", typ: corev1.HostPathBlockDev, wantErr: "is not a block device"},
		{name: "unknown type", path: "dir", typ: "Weird", wantErr: "unsupported volume type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.path
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			typ := tt.typ
			err := checkHostPath(p, &typ)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("checkHostPath(%s, %q) = %v, want error containing %q", tt.path, tt.typ, err, tt.wantErr)
			}
			if tt.wantMode != "" {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().String() != tt.wantMode {
					t.Errorf("mode = %s, want %s", st.Mode(), tt.wantMode)
				}
			}
		})
	}
	if err := checkHostPath(filepath.Join(dir, "missing"), nil); err != nil {
		t.Errorf("nil type: %v", err)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
