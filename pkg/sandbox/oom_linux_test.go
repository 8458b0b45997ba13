package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOOMMessage(t *testing.T) {
	// files writes a pod cgroup dir and its container's, as the kernel
	// shows them, and returns the container's.
	files := func(t *testing.T, pod, ctr map[string]string) string {
		root := t.TempDir()
		for dir, fs := range map[string]map[string]string{root: pod, filepath.Join(root, "app"): ctr} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range fs {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		return filepath.Join(root, "app")
	}
	events := func(oom string) string {
		return "low 0\nhigh 0\nmax 12\noom " + oom + "\noom_kill 1\noom_group_kill 0\n"
	}
	cases := []struct {
		name     string
		v1       bool
		pod, ctr map[string]string
		want     string
	}{
		{"v2 container level", false,
			map[string]string{"memory.events.local": events("0"), "memory.max": "100663296\n", "memory.peak": "40000000\n"},
			map[string]string{"memory.events.local": events("1"), "memory.max": "33554432\n", "memory.peak": "33554432\n"},
			"OOM killed: the container's memory limit was hit (memory.max 33554432); memory.peak: container 33554432, pod 40000000"},
		{"v2 pod level", false,
			map[string]string{"memory.events.local": events("2"), "memory.max": "67108864\n", "memory.peak": "67108864\n"},
			map[string]string{"memory.events.local": events("0"), "memory.max": "67108864\n", "memory.peak": "64000000\n"},
			"OOM killed: the pod's memory limit was hit (memory.max 67108864); memory.peak: container 64000000, pod 67108864"},
		{"v2 before 5.19: no memory.peak", false,
			map[string]string{"memory.events.local": events("0")},
			map[string]string{"memory.events.local": events("1"), "memory.max": "33554432\n"},
			"OOM killed: the container's memory limit was hit (memory.max 33554432); memory.peak: container unknown, pod unknown"},
		{"v2 no oom counted", false,
			map[string]string{"memory.events.local": events("0")}, map[string]string{"memory.events.local": events("0")}, ""},
		{"v1 container level", true,
			map[string]string{"memory.failcnt": "0\n", "memory.max_usage_in_bytes": "40000000\n"},
			map[string]string{"memory.failcnt": "31\n", "memory.limit_in_bytes": "33554432\n", "memory.max_usage_in_bytes": "33554432\n"},
			"OOM killed: the container's memory limit was hit (memory.limit_in_bytes 33554432); memory.max_usage_in_bytes: container 33554432, pod 40000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := files(t, tc.pod, tc.ctr)
			paths := map[string]string{"": dir}
			if tc.v1 {
				paths = map[string]string{"memory": dir, "": "/nonexistent"}
			}
			if got := oomMessage(paths); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
