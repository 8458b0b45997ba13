package network

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// threadNetNS names the calling thread's network namespace. /proc/self/ns/net names the main
// thread's, which is not necessarily the caller's.
const threadNetNS = "/proc/thread-self/ns/net"

// usableNetNS returns path when it names a network namespace, or "" when it is empty, gone (a
// dead process's /proc/PID/ns/net) or no longer a namespace (a bind mount that was unmounted
// leaves an empty file, which the plugins would refuse).
func usableNetNS(path string) string {
	if path == "" {
		return ""
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		return ""
	}
	return path
}

// delNetNS returns the netns that DEL gets for a sandbox whose namespace was at path: path
// while it names a namespace; else the Manager's empty placeholder namespace.
//
// CNI allows DEL without a netns, but the bridge plugin then releases only the IPAM
// allocation and leaves the pod's masquerade rule behind for good. Given an empty namespace it
// finds no eth0 there, which it takes as already deleted, and goes on to remove the masquerade
// rule (the nftables backend finds it by the container ID alone). The placeholder is never
// given to ADD, and DEL only removes, so it stays empty. When it cannot be made, DEL gets no
// netns, as CNI allows.
//
// A path that names the agent's own namespace (as a stale path could) is never
// given: DEL would delete the node's eth0.
func (m *Manager) delNetNS(path string) string {
	if p := usableNetNS(path); p != "" && !sameNetNS(p, threadNetNS) {
		return p
	}
	m.placeholderOnce.Do(func() {
		f, err := newEmptyNetNS()
		if err != nil {
			klog.Background().Error(err, "CNI DEL for sandboxes whose netns is gone gets none; the bridge plugin then leaves their masquerade rules")
			return
		}
		m.placeholder = f
	})
	if m.placeholder == nil {
		return ""
	}
	// The plugins open the namespace through the agent's descriptor, which keeps it alive
	// for as long as the Manager is.
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), m.placeholder.Fd())
}

// newEmptyNetNS makes a network namespace and returns a descriptor of it.
func newEmptyNetNS() (*os.File, error) {
	type made struct {
		f   *os.File
		err error
	}
	c := make(chan made, 1)
	go func() {
		// The thread goes back to the agent's namespace before it is unlocked. It is not left
		// to end with the goroutine instead: the Go runtime cannot end the main thread and
		// parks it for good, which would leave /proc/PID/ns/net naming the placeholder.
		runtime.LockOSThread()
		own, err := os.Open(threadNetNS)
		if err != nil {
			runtime.UnlockOSThread()
			c <- made{err: fmt.Errorf("placeholder netns: %w", err)}
			return
		}
		defer own.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			c <- made{err: fmt.Errorf("placeholder netns: unshare: %w", err)}
			return
		}
		f, err := os.Open(threadNetNS)
		if err != nil {
			err = fmt.Errorf("placeholder netns: %w", err)
		}
		if serr := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); serr != nil {
			// Left locked: the thread ends (or parks) with this goroutine.
			if f != nil {
				f.Close()
			}
			c <- made{err: fmt.Errorf("placeholder netns: back to the agent's: %w", serr)}
			return
		}
		runtime.UnlockOSThread()
		c <- made{f, err}
	}()
	r := <-c
	return r.f, r.err
}

// PinNetNS bind-mounts the network namespace at src (the sandbox's /proc/PID/ns/net) onto
// path, which then names that namespace for as long as the mount stays, whatever becomes of
// the process and its PID. Pod.NetNS must be such a path: libcni caches it for DEL, and a
// /proc/PID path could by then name another process's namespace, the node's included.
func PinNetNS(src, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("pin netns: %w", err)
	}
	if usableNetNS(path) != "" {
		return fmt.Errorf("pin netns: %s already names a namespace", path)
	}
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		return fmt.Errorf("pin netns: %w", err)
	}
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("pin netns %s at %s: %w", src, path, err)
	}
	return nil
}

// UnpinNetNS undoes PinNetNS: it unmounts path while it names a namespace, and removes the
// file. A path that is gone is success.
func UnpinNetNS(path string) error {
	if usableNetNS(path) != "" {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unpin netns %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("unpin netns: %w", err)
	}
	return nil
}

// sameNetNS tells whether two paths name the same namespace.
func sameNetNS(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// checkPodNetNS refuses a netns that ADD must never get: one under /proc (see PinNetNS), one
// that is no namespace, and the agent's own (the node's), where bridge would move the node's
// interface named eth0 about.
func checkPodNetNS(path string) error {
	switch {
	case strings.HasPrefix(filepath.Clean(path), "/proc/"):
		return fmt.Errorf("netns %s is under /proc: pin it with PinNetNS first", path)
	case usableNetNS(path) == "":
		return fmt.Errorf("netns %s is no network namespace", path)
	case sameNetNS(path, threadNetNS):
		return fmt.Errorf("netns %s is the agent's own", path)
	}
	return nil
}
