package pid1

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals are the signals Main passes on to the app. Like tini it
// leaves out the synchronous ones (SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT,
// SIGTRAP, SIGSYS) and SIGTTIN/SIGTTOU; it also leaves out SIGURG, which the
// Go runtime sends itself for preemption, and SIGPROF, which it uses for
// profiling. SIGCHLD is for reaping, SIGKILL and SIGSTOP cannot be caught.
func forwardedSignals() []os.Signal {
	sigs := []os.Signal{
		unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM,
		unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGALRM,
		unix.SIGVTALRM, unix.SIGPIPE, unix.SIGTSTP, unix.SIGCONT,
		unix.SIGXCPU, unix.SIGXFSZ, unix.SIGPWR, unix.SIGIO, unix.SIGSTKFLT,
	}
	// Real-time signals; 32 and 33 belong to the C library's threads.
	for s := 34; s <= 64; s++ {
		sigs = append(sigs, syscall.Signal(s))
	}
	return sigs
}

// reap collects every exited child without blocking and reports the wait
// status of pid if it was among them.
func reap(pid int) (unix.WaitStatus, bool) {
	var found unix.WaitStatus
	ok := false
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return found, ok
		}
		if got == pid {
			found, ok = ws, true
		}
	}
}

// exitCode maps a wait status to a shell's exit code and the killing signal.
func exitCode(ws unix.WaitStatus) (code, signal int) {
	switch {
	case ws.Exited():
		return ws.ExitStatus(), 0
	case ws.Signaled():
		s := int(ws.Signal())
		return 128 + s, s
	}
	return ExitSetupFailed, 0 // stopped or continued: not an exit
}

// becomeSubreaper makes orphaned descendants reparent to this process.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
