package network

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

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
func (m *Manager) delNetNS(path string) string {
	if p := usableNetNS(path); p != "" {
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
		// Never unlocked: the thread ends with this goroutine instead of going back to the
		// scheduler in the new namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			c <- made{err: fmt.Errorf("placeholder netns: unshare: %w", err)}
			return
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
		if err != nil {
			err = fmt.Errorf("placeholder netns: %w", err)
		}
		c <- made{f, err}
	}()
	r := <-c
	return r.f, r.err
}
