package stats

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Files are written in whole 4 KiB pages, which every filesystem a test
// dir may be on (ext4, xfs, tmpfs, btrfs) allocates exactly: n bytes take
// n/512 blocks. Directories take what the filesystem gives them, which the
// tests read back with stat.

// ephFile writes size bytes to root/rel, making its directories.
func ephFile(t *testing.T, root, rel string, size int) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = 'x'
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ephBlocks is the allocated bytes (blocks × 512) of paths, as lstat says.
func ephBlocks(t *testing.T, paths ...string) uint64 {
	t.Helper()
	var sum uint64
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		sum += uint64(st.Blocks) * 512
	}
	return sum
}

func TestDirUsage(t *testing.T) {
	dir := t.TempDir()
	ephFile(t, dir, "a", 8192)
	ephFile(t, dir, "sub/b", 4096)
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "sub/a-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	// A 1 MiB sparse file has written nothing.
	if err := os.WriteFile(filepath.Join(dir, "sparse"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "sparse"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	got, err := dirUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	// dir, a (its link once), sub, b, l, sparse, empty.
	want := diskUsage{
		bytes:  8192 + 4096 + ephBlocks(t, dir, filepath.Join(dir, "sub"), filepath.Join(dir, "empty"), filepath.Join(dir, "l")),
		inodes: 7,
	}
	if got != want {
		t.Errorf("dirUsage = %+v, want %+v", got, want)
	}

	if _, err := dirUsage(filepath.Join(dir, "missing")); err == nil {
		t.Error("dirUsage of a missing dir succeeded")
	}
}

func TestFilesUsage(t *testing.T) {
	dir := t.TempDir()
	ephFile(t, dir, "0.log", 4096)
	ephFile(t, dir, "0.log.20261129-010000.gz", 8192)
	ephFile(t, dir, "app/1.log", 40960) // a subdirectory is not counted
	got, err := filesUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := (diskUsage{bytes: 12288, inodes: 2}); got != want {
		t.Errorf("filesUsage = %+v, want %+v", got, want)
	}
}

// ephPod lays out a pod's storage in root: a 12 KiB writable layer, 8 KiB
// of container logs, 4 KiB of pod-level logs, a 16 KiB disk emptyDir, an
// 8 KiB secret (not ephemeral) and 4 KiB of /etc files.
func ephPod(t *testing.T, root string) Pod {
	t.Helper()
	ephFile(t, root, "upper/data", 12288)
	ephFile(t, root, "logs/app/0.log", 8192)
	ephFile(t, root, "logs/pod.log", 4096)
	ephFile(t, root, "vol/cache/f", 16384)
	ephFile(t, root, "vol/secret/token", 8192)
	ephFile(t, root, "etc/hosts", 4096)
	p := testPod
	p.Containers = []Container{{
		Name: "app", CgroupPath: appCgroup, StartTime: t0.Add(-30 * time.Minute),
		WritableLayer: filepath.Join(root, "upper"), LogDir: filepath.Join(root, "logs/app"),
	}}
	p.LogDir = filepath.Join(root, "logs")
	p.EtcDir = filepath.Join(root, "etc")
	p.Volumes = []Volume{
		{Name: "cache", Path: filepath.Join(root, "vol/cache"), Ephemeral: true},
		{Name: "secret", Path: filepath.Join(root, "vol/secret")},
	}
	return p
}

func used(fs *statsapi.FsStats) (bytes, inodes uint64, ok bool) {
	if fs == nil || fs.UsedBytes == nil || fs.InodesUsed == nil {
		return 0, 0, false
	}
	return *fs.UsedBytes, *fs.InodesUsed, true
}

func TestSummaryStorage(t *testing.T) {
	h := newFakeHost(t)
	h.writeV2Node(t)
	h.writePod(t, "2000000", "1500000")
	root := t.TempDir()
	c, err := New(Config{
		NodeName: "node-1", CgroupFS: h.cgroupFS, ProcFS: h.procFS, Clock: h.clock,
		RootDir: root, ImageDir: filepath.Join(root, "images"), ContainerDir: root,
	})
	if err != nil {
		t.Fatal(err)
	}
	ephFile(t, root, "images/layer/bin", 20480)
	pod := ephPod(t, root)
	ctx := context.Background()
	dirs := func(rel ...string) uint64 {
		var paths []string
		for _, r := range rel {
			paths = append(paths, filepath.Join(root, r))
		}
		return ephBlocks(t, paths...)
	}

	// The first scrape knows the filesystems, not yet the usage: it starts
	// the walk.
	s := c.Summary(ctx, []Pod{pod})
	ctr := s.Pods[0].Containers[0]
	if ctr.Rootfs == nil || ctr.Rootfs.CapacityBytes == nil || *ctr.Rootfs.CapacityBytes == 0 || ctr.Rootfs.UsedBytes != nil {
		t.Errorf("first scrape: rootfs = %+v, want the capacity and no usage yet", ctr.Rootfs)
	}
	c.du.wait()

	s = c.Summary(ctx, []Pod{pod})
	p := s.Pods[0]
	ctr = p.Containers[0]
	upper := 12288 + dirs("upper")
	check := func(what string, fs *statsapi.FsStats, bytes, inodes uint64) {
		t.Helper()
		gotBytes, gotInodes, ok := used(fs)
		if !ok || gotBytes != bytes || gotInodes != inodes {
			t.Errorf("%s: used %d bytes, %d inodes (present %v), want %d, %d", what, gotBytes, gotInodes, ok, bytes, inodes)
		}
		if fs != nil && (fs.CapacityBytes == nil || *fs.CapacityBytes == 0 || fs.Inodes == nil || fs.AvailableBytes == nil) {
			t.Errorf("%s: capacity %v, available %v, inodes %v: want the filesystem's", what, fs.CapacityBytes, fs.AvailableBytes, fs.Inodes)
		}
	}
	check("container rootfs", ctr.Rootfs, upper, 2)
	check("container logs", ctr.Logs, 8192, 1)
	if len(p.VolumeStats) != 2 || p.VolumeStats[0].Name != "cache" || p.VolumeStats[1].Name != "secret" {
		t.Fatalf("volume stats = %+v, want cache and secret", p.VolumeStats)
	}
	check("volume cache", &p.VolumeStats[0].FsStats, 16384+dirs("vol/cache"), 2)
	check("volume secret", &p.VolumeStats[1].FsStats, 8192+dirs("vol/secret"), 2)
	// rootfs + container logs + the cache volume + the pod's log file + etc.
	check("pod ephemeral storage", p.EphemeralStorage,
		upper+8192+16384+dirs("vol/cache")+4096+4096+dirs("etc"), 2+1+2+1+2)
	if rt := s.Node.Runtime; rt == nil {
		t.Errorf("no node runtime stats")
	} else {
		check("imageFs", rt.ImageFs, 20480+dirs("images", "images/layer"), 3)
		check("containerFs", rt.ContainerFs, upper, 2)
	}
	walked := ctr.Rootfs.Time

	// Within the interval the usage stays what it was, and no walk starts.
	ephFile(t, root, "upper/more", 4096)
	h.clock.Step(5 * time.Second)
	s = c.Summary(ctx, []Pod{pod})
	c.du.wait()
	if fs := s.Pods[0].Containers[0].Rootfs; !fs.Time.Equal(&walked) || *fs.UsedBytes != upper {
		t.Errorf("rootfs 5s later = %d bytes at %v, want the cached %d at %v", *fs.UsedBytes, fs.Time, upper, walked)
	}
	// After it, the scrape still answers from the cache and starts a walk;
	// the next one sees the new file.
	h.clock.Step(5 * time.Second)
	c.Summary(ctx, []Pod{pod})
	c.du.wait()
	s = c.Summary(ctx, []Pod{pod})
	check("container rootfs after the interval", s.Pods[0].Containers[0].Rootfs, upper+4096, 3)
	if got, want := s.Pods[0].Containers[0].Rootfs.Time, metav1.NewTime(t0.Add(10*time.Second)); !got.Equal(&want) {
		t.Errorf("rootfs time = %v, want the walk's %v", got, want)
	}

	// A pod that is gone is forgotten.
	c.Summary(ctx, nil)
	c.du.wait()
	c.du.mu.Lock()
	n := len(c.du.entries)
	c.du.mu.Unlock()
	if n != 1 { // the image dir
		t.Errorf("usage cache holds %d entries after the pod went, want 1 (the image dir)", n)
	}
}

// TestCPUAndMemoryWalksNothing: the resource metrics path never asks for
// disk usage.
func TestCPUAndMemoryWalksNothing(t *testing.T) {
	h := newFakeHost(t)
	h.writeV2Node(t)
	h.writePod(t, "2000000", "1500000")
	root := t.TempDir()
	c, err := New(Config{NodeName: "node-1", CgroupFS: h.cgroupFS, ProcFS: h.procFS, Clock: h.clock, RootDir: root})
	if err != nil {
		t.Fatal(err)
	}
	s := c.CPUAndMemory(context.Background(), []Pod{ephPod(t, root)})
	if p := s.Pods[0]; p.EphemeralStorage != nil || p.VolumeStats != nil || p.Containers[0].Rootfs != nil {
		t.Errorf("CPUAndMemory reported storage: %+v", p)
	}
	if len(c.du.entries) != 0 || c.du.walking != nil {
		t.Errorf("CPUAndMemory touched the usage cache: %d entries, walking %v", len(c.du.entries), c.du.walking != nil)
	}
}
