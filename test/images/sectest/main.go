// Command sectest is the helper of the test image kubelet-lite.local/sectest:v1:
// it tries what a confined container must not be able to do and prints one
// line per attempt, "NAME: ok" or "NAME: <errno name>", so that a test can
// tell a wall (EPERM, EACCES, EROFS) from a missing feature. Every attempt is
// harmless even where the wall is missing: reboot asks only to disable
// ctrl-alt-del (never a restart), the module it loads is not a module, and
// the mounts are in the container's own mount namespace.
//
//	sectest ids              prints "uid=U euid=E gid=G groups=A,B"
//	sectest try NAME...      unshare-net, mount-tmpfs, reboot, init-module, keyctl
//	sectest ptrace-uid UID   PTRACE_ATTACH to a process of user UID
//	sectest write PATH       writes PATH (created, truncated)
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: sectest ids | try NAME... | ptrace-uid UID | write PATH")
	}
	switch arg := os.Args[2:]; os.Args[1] {
	case "ids":
		groups, _ := os.Getgroups()
		var gs []string
		for _, g := range groups {
			gs = append(gs, strconv.Itoa(g))
		}
		fmt.Printf("uid=%d euid=%d gid=%d groups=%s\n", os.Getuid(), os.Geteuid(), os.Getgid(), strings.Join(gs, ","))
	case "try":
		for _, name := range arg {
			report(name, try(name))
		}
	case "ptrace-uid":
		if len(arg) != 1 {
			fail("ptrace-uid UID")
		}
		report("ptrace", ptraceUID(arg[0]))
	case "write":
		if len(arg) != 1 {
			fail("write PATH")
		}
		report("write "+arg[0], os.WriteFile(arg[0], []byte("x\n"), 0o644))
	default:
		fail("unknown command " + os.Args[1])
	}
}

func try(name string) error {
	runtime.LockOSThread() // unshare and the like act on this thread only
	switch name {
	case "unshare-net":
		return unix.Unshare(unix.CLONE_NEWNET)
	case "mount-tmpfs":
		if err := os.MkdirAll("/tmp/sectest-mnt", 0o755); err != nil {
			return err
		}
		return unix.Mount("tmpfs", "/tmp/sectest-mnt", "tmpfs", 0, "size=1m")
	case "reboot":
		return unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	case "init-module":
		// Not an ELF module: the kernel refuses it (ENOEXEC) after the
		// capability check, which is what must fail first.
		return unix.InitModule([]byte("not a module"), "")
	case "keyctl":
		// A key in this process's own keyring: allowed without privileges,
		// so only a seccomp filter stops it.
		_, err := unix.AddKey("user", "sectest", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		return err
	}
	return fmt.Errorf("unknown attempt %q", name)
}

// ptraceUID attaches to the first process of user uid that is not this one.
func ptraceUID(uid string) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == uid {
				runtime.LockOSThread()
				if err := unix.PtraceAttach(pid); err != nil {
					return err
				}
				var ws unix.WaitStatus
				_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
				return unix.PtraceDetach(pid)
			}
		}
	}
	return fmt.Errorf("no process of user %s", uid)
}

func report(name string, err error) {
	var errno syscall.Errno
	switch {
	case err == nil:
		fmt.Printf("%s: ok\n", name)
	case errors.As(err, &errno):
		fmt.Printf("%s: %s\n", name, unix.ErrnoName(errno))
	default:
		fmt.Printf("%s: %v\n", name, err)
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "sectest:", msg)
	os.Exit(2)
}
