package volume

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tree lists dir's entries (not following symlinks, skipping the writer's
// ".." names) as "path -> target" for symlinks, "path mode content" for
// files, read through the user-visible symlinks.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("%s is not a symlink: %v", e.Name(), err)
		}
		out = append(out, e.Name()+" -> "+link)
	}
	err = filepath.Walk(filepath.Join(dir, dataDirName)+"/", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, dataDirName), p)
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		out = append(out, rel+" "+info.Mode().Perm().String()+" "+string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func hiddenDirs(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "..2*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWriteAtomicUpdates(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		name      string
		pl        payload
		wantWrote bool
		want      []string
	}{
		{
			name: "first write",
			pl: payload{
				"a":       {data: []byte("1"), mode: 0o644},
				"sub/b":   {data: []byte("2"), mode: 0o400},
				"sub/c/d": {data: []byte("3"), mode: 0o600},
			},
			wantWrote: true,
			want: []string{
				"a -> ..data/a", "a -rw-r--r-- 1",
				"sub -> ..data/sub", "sub/b -r-------- 2", "sub/c/d -rw------- 3",
			},
		},
		{
			name: "same content writes nothing",
			pl: payload{
				"a":       {data: []byte("1"), mode: 0o644},
				"sub/b":   {data: []byte("2"), mode: 0o400},
				"sub/c/d": {data: []byte("3"), mode: 0o600},
			},
			wantWrote: false,
			want: []string{
				"a -> ..data/a", "a -rw-r--r-- 1",
				"sub -> ..data/sub", "sub/b -r-------- 2", "sub/c/d -rw------- 3",
			},
		},
		{
			name: "changed content and mode, removed key and directory",
			pl: payload{
				"a":     {data: []byte("one"), mode: 0o644},
				"sub/b": {data: []byte("2"), mode: 0o440},
				"new":   {data: []byte("n"), mode: 0o644},
			},
			wantWrote: true,
			want: []string{
				"a -> ..data/a", "a -rw-r--r-- one",
				"new -> ..data/new", "new -rw-r--r-- n",
				"sub -> ..data/sub", "sub/b -r--r----- 2",
			},
		},
		{
			name:      "everything removed",
			pl:        payload{},
			wantWrote: true,
			want:      nil,
		},
	}
	for _, s := range steps {
		wrote, err := writeAtomic(dir, s.pl, nil)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.wantWrote {
			t.Errorf("%s: wrote = %v, want %v", s.name, wrote, s.wantWrote)
		}
		got := tree(t, dir)
		if strings.Join(got, "\n") != strings.Join(s.want, "\n") {
			t.Errorf("%s: tree\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.want, "\n"))
		}
		if h := hiddenDirs(t, dir); len(h) != 1 {
			t.Errorf("%s: timestamped dirs %v, want exactly one", s.name, h)
		}
		if _, err := os.Lstat(filepath.Join(dir, newDataDirName)); err == nil {
			t.Errorf("%s: %s left behind", s.name, newDataDirName)
		}
	}
}

func TestWriteAtomicSwapsDataLink(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeAtomic(dir, payload{"k": {data: []byte("v1"), mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	first, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file keeps reading the old content.
	old, err := os.Open(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := writeAtomic(dir, payload{"k": {data: []byte("v2"), mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	second, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	if first == second || !strings.HasPrefix(second, "..") {
		t.Errorf("..data went from %q to %q, want a new timestamped dir", first, second)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Errorf("old data dir %s still there: %v", first, err)
	}
	buf := make([]byte, 8)
	n, _ := old.Read(buf)
	if string(buf[:n]) != "v1" {
		t.Errorf("open old file reads %q, want v1", buf[:n])
	}
	got, err := os.ReadFile(filepath.Join(dir, "k"))
	if err != nil || string(got) != "v2" {
		t.Errorf("k = %q, %v; want v2", got, err)
	}
}

func TestWriteAtomicFSGroup(t *testing.T) {
	dir := t.TempDir()
	gid := int64(os.Getgid())
	if _, err := writeAtomic(dir, payload{"k": {data: []byte("v"), mode: 0o400}}, &gid); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o440 {
		t.Errorf("mode = %v, want -r--r-----", st.Mode().Perm())
	}
}

func TestValidatePath(t *testing.T) {
	tests := []struct {
		name, path string
		wantErr    string
	}{
		{name: "plain", path: "a/b.txt"},
		{name: "dots inside a name", path: "a..b"},
		{name: "empty", path: "", wantErr: "must not be empty"},
		{name: "absolute", path: "/etc/passwd", wantErr: "must be relative"},
		{name: "parent", path: "a/../../etc", wantErr: "must not contain '..'"},
		{name: "only parent", path: "..", wantErr: "must not contain '..'"},
		{name: "reserved prefix", path: "..data/x", wantErr: "must not start with '..'"},
		{name: "long name", path: strings.Repeat("x", 256), wantErr: "at most 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validatePath(tt.path)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("validatePath(%q) = %v, want error containing %q", tt.path, err, tt.wantErr)
			}
		})
	}
}

func TestWriteAtomicRejectsEscapes(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeAtomic(dir, payload{"../x": {data: []byte("v"), mode: 0o644}}, nil); err == nil {
		t.Fatal("payload path ../x accepted")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "x")); !os.IsNotExist(err) {
		t.Errorf("file written outside the volume: %v", err)
	}
}
