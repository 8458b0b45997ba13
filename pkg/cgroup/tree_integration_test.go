//go:build integration

package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// testTree returns a tree below this test's own cgroup, removed at the end.
func testTree(t *testing.T) *Tree {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("cgroup integration tests need root")
	}
	own, err := Own()
	if err != nil {
		t.Fatal(err)
	}
	tree := NewTree(fmt.Sprintf("%s/kl-cgtest-%d", own, os.Getpid()))
	t.Cleanup(func() {
		if err := tree.Remove(""); err != nil {
			t.Errorf("remove test root: %v", err)
		}
	})
	return tree
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestEnsurePodWritesValues(t *testing.T) {
	tree := testTree(t)
	pod := translate.Cgroup{
		Path: "kubepods/burstable/pod1234",
		Resources: translate.Resources{
			CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000,
			MemoryMax: 64 << 20, PidsMax: 64,
		},
	}
	for range 2 { // idempotent
		if err := tree.EnsurePod(pod); err != nil {
			t.Fatal(err)
		}
	}
	dirs, err := tree.Dirs(pod.Path)
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ controller, file, value string }
	var wants []want
	if tree.Version() == "v2" {
		wants = []want{{"", "cpu.weight", "59"}, {"", "cpu.max", "50000 100000"}, {"", "memory.max", "67108864"}, {"", "pids.max", "64"}}
	} else {
		wants = []want{
			{"cpu", "cpu.shares", "512"}, {"cpu", "cpu.cfs_quota_us", "50000"}, {"cpu", "cpu.cfs_period_us", "100000"},
			{"memory", "memory.limit_in_bytes", "67108864"}, {"pids", "pids.max", "64"},
		}
	}
	for _, w := range wants {
		if got := readFile(t, dirs[w.controller], w.file); got != w.value {
			t.Errorf("%s = %q, want %q", w.file, got, w.value)
		}
	}
	if err := tree.Remove("kubepods"); err != nil {
		t.Fatal(err)
	}
	for c, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s cgroup %s still exists after Remove (err %v)", c, d, err)
		}
	}
	if err := tree.Remove("kubepods"); err != nil {
		t.Errorf("removing a removed cgroup: %v", err)
	}
}
