//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the node VM's /init mounts cgroup2.
const cgroupRoot = "/sys/fs/cgroup"

type check struct {
	name string
	run  func() (string, error)
}

func main() {
	checks := []check{
		{name: "cgroup2 controllers", run: checkControllers},
		{name: "child cgroup limits", run: checkChildCgroup},
		{name: "pivot_root in a new mount namespace", run: checkPivotRoot},
	}
	failed := 0
	for _, c := range checks {
		detail, err := c.run()
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", c.name, err)
			continue
		}
		fmt.Printf("ok %s: %s\n", c.name, detail)
	}
	if failed > 0 {
		fmt.Printf("nodevm-selftest: %d of %d checks failed\n", failed, len(checks))
		os.Exit(1)
	}
	fmt.Println("nodevm-selftest: PASS")
}

// checkControllers verifies cgroup2 is mounted and the root delegates the five controllers.
func checkControllers() (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w", cgroupRoot, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return "", fmt.Errorf("%s is not cgroup2 (magic %#x)", cgroupRoot, st.Type)
	}
	enabled, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"))
	if err != nil {
		return "", fmt.Errorf("read subtree_control: %w", err)
	}
	have := strings.Fields(string(enabled))
	for _, want := range []string{"cpu", "memory", "pids", "io", "cpuset"} {
		if !slices.Contains(have, want) {
			return "", fmt.Errorf("controller %s not in subtree_control %q", want, have)
		}
	}
	return strings.Join(have, " "), nil
}

// checkChildCgroup creates a child cgroup, writes limits and reads them back, then removes it.
func checkChildCgroup() (string, error) {
	dir := filepath.Join(cgroupRoot, "nodevm-selftest")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cgroup: %w", err)
	}
	defer os.Remove(dir)
	writes := []struct{ file, value, want string }{
		{file: "cpu.max", value: "50000 100000", want: "50000 100000"},
		{file: "cpu.weight", value: "59", want: "59"},
		{file: "memory.max", value: "104857600", want: "104857600"},
		{file: "pids.max", value: "64", want: "64"},
		{file: "cpuset.cpus", value: "0", want: "0"},
	}
	var got []string
	for _, w := range writes {
		path := filepath.Join(dir, w.file)
		if err := os.WriteFile(path, []byte(w.value), 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", w.file, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", w.file, err)
		}
		if v := strings.TrimSpace(string(b)); v != w.want {
			return "", fmt.Errorf("%s reads %q after writing %q, want %q", w.file, v, w.value, w.want)
		}
		got = append(got, fmt.Sprintf("%s=%s", w.file, w.want))
	}
	if _, err := os.Stat(filepath.Join(dir, "io.max")); err != nil {
		return "", fmt.Errorf("io controller: %w", err)
	}
	return strings.Join(got, ", "), nil
}

// checkPivotRoot does what libcontainer does for a container's root, on a locked thread that is
// thrown away afterwards (the goroutine ends while locked, so its changed mount namespace dies with it).
func checkPivotRoot() (string, error) {
	type result struct {
		detail string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		detail, err := pivotRootInNewNS()
		done <- result{detail: detail, err: err}
	}()
	r := <-done
	if r.err != nil {
		return "", r.err
	}
	// The process's own root must be untouched.
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		return "", fmt.Errorf("process root changed after the check: %w", err)
	}
	return r.detail, nil
}

func pivotRootInNewNS() (string, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return "", fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("make / rprivate: %w", err)
	}
	newRoot, err := os.MkdirTemp("/tmp", "pivot-")
	if err != nil {
		return "", fmt.Errorf("mkdir new root: %w", err)
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", 0, "size=1m"); err != nil {
		return "", fmt.Errorf("mount tmpfs on %s: %w", newRoot, err)
	}
	const marker = "nodevm-selftest-marker"
	if err := os.WriteFile(filepath.Join(newRoot, marker), []byte("x"), 0o644); err != nil {
		return "", fmt.Errorf("write marker: %w", err)
	}
	if err := unix.Chdir(newRoot); err != nil {
		return "", fmt.Errorf("chdir %s: %w", newRoot, err)
	}
	// runc's trick: pivot_root(".", ".") stacks the old root on top of the new one; a lazy
	// unmount of "." then drops it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return "", fmt.Errorf("pivot_root into %s: %w", newRoot, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return "", fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return "", fmt.Errorf("chdir /: %w", err)
	}
	if _, err := os.Stat("/" + marker); err != nil {
		return "", fmt.Errorf("marker not at the new root: %w", err)
	}
	if _, err := os.Stat("/init"); !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("old root still visible after pivot_root (stat /init: %v)", err)
	}
	return "new root " + newRoot + " holds only the marker", nil
}
