package sandbox

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/opencontainers/runc/libcontainer/system"
	"golang.org/x/sys/unix"
)

// alive tells whether the process pid still is the one that started at
// start (clock ticks since boot) and has not exited.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := system.Stat(pid)
	if err != nil {
		return false
	}
	return st.StartTime == start && st.State != system.Zombie && st.State != system.Dead
}

// sameProcess tells whether pid still is the process that started at start,
// running or a zombie.
func sameProcess(pid int, start uint64) bool {
	st, err := system.Stat(pid)
	return err == nil && st.StartTime == start
}

// reap collects the exit of the process behind a pidfd if it is our child.
// Container inits are: libcontainer's nsexec clones them with CLONE_PARENT,
// so until the agent reaps them they stay zombies, and a zombie in a pod's
// PID namespace keeps the sandbox's dying init from ever finishing. After an
// agent restart they are someone else's children (ECHILD, ignored).
func reap(pidfd int) {
	var info unix.Siginfo
	_ = unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG, nil)
}

// exitWatch waits for one process to exit through a pidfd registered with
// Go's netpoller, so a thousand watches cost no threads.
type exitWatch struct {
	f    *os.File
	done chan struct{}
}

// watchExit calls onExit once, from a new goroutine, when the process
// (pid, start) exits; immediately if it is already gone. stop() on the
// returned watch cancels it without calling onExit.
func watchExit(pid int, start uint64, onExit func()) (*exitWatch, error) {
	w := &exitWatch{done: make(chan struct{})}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		go w.fire(onExit)
		return w, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	// Checked after opening the pidfd, so a reused PID cannot slip in. A
	// zombie is still the same process: the pidfd reaps it below.
	if !sameProcess(pid, start) {
		unix.Close(fd)
		go w.fire(onExit)
		return w, nil
	}
	w.f = os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	rc, err := w.f.SyscallConn()
	if err != nil {
		w.f.Close()
		return nil, fmt.Errorf("pidfd %d: %w", pid, err)
	}
	go func() {
		err := rc.Read(func(fd uintptr) bool {
			if !pidfdReady(int(fd)) {
				return false
			}
			reap(int(fd))
			return true
		})
		w.f.Close()
		if err != nil { // stopped
			return
		}
		w.fire(onExit)
	}()
	return w, nil
}

func (w *exitWatch) fire(onExit func()) {
	defer close(w.done)
	onExit()
}

// stop cancels the watch if it has not fired.
func (w *exitWatch) stop() {
	if w.f != nil {
		w.f.Close()
	}
}

// wait waits up to timeout for the watch to have fired; false on timeout.
func (w *exitWatch) wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
		return true
	case <-t.C:
		return false
	}
}

// pidfdReady polls a pidfd without blocking: readable means exited.
func pidfdReady(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// waitGone waits up to timeout for the process (pid, start) to exit and
// tells whether it did.
func waitGone(pid int, start uint64, timeout time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return !alive(pid, start)
	}
	defer unix.Close(fd)
	if !sameProcess(pid, start) {
		return true
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && n > 0 {
			reap(fd)
			return true
		}
		return false
	}
}
