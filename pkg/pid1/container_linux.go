package pid1

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubelet-lite/kubelet-lite/pkg/crilog"
)

// msgPrefix starts the log lines PID 1 writes about itself.
const msgPrefix = "kubelet-lite pid1: "

// container is a running Main.
type container struct {
	opts options
	log  *os.File       // the log file, shared by all writers
	exit *os.File       // the exit status file
	msgs *crilog.Writer // PID 1's own stderr lines
}

func runContainer(args []string) int {
	o, err := parseArgs(args, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", msgPrefix, err)
		return 2
	}
	for _, fd := range []int{o.logFD, o.exitFD} {
		// The app must inherit neither file.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			fmt.Fprintf(os.Stderr, "%sfd %d: %v\n", msgPrefix, fd, err)
			return 2
		}
	}
	c := &container{
		opts: o,
		log:  os.NewFile(uintptr(o.logFD), "log"),
		exit: os.NewFile(uintptr(o.exitFD), "exit-status"),
	}
	c.msgs = crilog.NewWriter(c.log, crilog.Stderr, nil, o.maxLineSize)
	return c.run()
}

func (c *container) run() int {
	if err := becomeSubreaper(); err != nil {
		return c.fail(ExitSetupFailed, fmt.Sprintf("become child subreaper: %v", err), time.Now())
	}
	// Subscribe before the app exists so that no signal or exit is missed.
	// One pending SIGCHLD is enough: each reaps every exited child.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	fwd := make(chan os.Signal, 16)
	signal.Notify(fwd, forwardedSignals()...)

	started := time.Now()
	a, err := startApp(c.opts.argv)
	if err != nil {
		code := ExitSetupFailed
		if se, ok := err.(*startError); ok {
			code = se.code
		}
		return c.fail(code, err.Error(), started)
	}
	copied := make(chan struct{}, 2)
	go c.copyOutput(a.stdout, crilog.Stdout, copied)
	go c.copyOutput(a.stderr, crilog.Stderr, copied)

	// fwd stays subscribed: a signal during the drain must not kill PID 1
	// with the Go runtime's default action. It is simply not read any more.
	ws := c.waitApp(a.pid, chld, fwd)
	st := ExitStatus{StartedAt: a.started, FinishedAt: time.Now()}
	st.ExitCode, st.Signal = exitCode(ws)
	if err := c.record(st); err != nil {
		c.say(err.Error())
	}
	c.drain(a, copied, chld)
	return st.ExitCode
}

// waitApp forwards signals to the app and reaps children until the app exits.
func (c *container) waitApp(pid int, chld, fwd <-chan os.Signal) unix.WaitStatus {
	for {
		select {
		case <-chld:
			if ws, ok := reap(pid); ok {
				return ws
			}
		case s := <-fwd:
			// ESRCH: the app exited and its SIGCHLD is on its way.
			_ = unix.Kill(pid, s.(unix.Signal))
		}
	}
}

// copyOutput writes one output pipe into the log until it ends or its read
// deadline passes, then what is still buffered in the pipe, then an
// unterminated last line.
func (c *container) copyOutput(f *os.File, s crilog.Stream, done chan<- struct{}) {
	w := crilog.NewWriter(c.log, s, nil, c.opts.maxLineSize)
	// A failing log file has nobody to report to; keep draining the pipe.
	if _, err := w.ReadFrom(f); errors.Is(err, os.ErrDeadlineExceeded) {
		if rest, err := newPipeRest(f); err == nil {
			_, _ = w.ReadFrom(rest)
		}
	}
	_ = w.Close()
	done <- struct{}{}
}

// pipeRest reads what a pipe holds now, without waiting for more, and at
// most one pipe's worth of it: the writers may still be writing.
type pipeRest struct {
	rc     syscall.RawConn
	budget int
}

func newPipeRest(f *os.File) (*pipeRest, error) {
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &pipeRest{rc: rc, budget: 1 << 20}, nil
}

func (p *pipeRest) Read(b []byte) (int, error) {
	if p.budget <= 0 {
		return 0, io.EOF
	}
	var n int
	var rerr error
	err := p.rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), b)
		return true // never wait for the poller
	})
	if err != nil {
		return 0, err
	}
	if n <= 0 || rerr != nil {
		return 0, io.EOF // empty (EAGAIN), closed, or failed
	}
	p.budget -= n
	return n, nil
}

// drain waits for both pipes to end, at most the drain timeout: processes
// that outlive the app may hold them open. It keeps reaping meanwhile, and
// closes the pipes at the end.
func (c *container) drain(a *app, copied <-chan struct{}, chld <-chan os.Signal) {
	deadline := time.Now().Add(c.opts.drainTimeout)
	for _, f := range []*os.File{a.stdout, a.stderr} {
		if err := f.SetReadDeadline(deadline); err != nil {
			c.say(fmt.Sprintf("bound %s drain: %v", f.Name(), err))
		}
	}
	for n := 0; n < 2; {
		select {
		case <-copied:
			n++
		case <-chld:
			reap(-1)
		}
	}
	_ = a.stdout.Close()
	_ = a.stderr.Close()
}

// fail records that the app could not run, logs why and returns code.
func (c *container) fail(code int, msg string, started time.Time) int {
	c.say(msg)
	st := ExitStatus{ExitCode: code, StartedAt: started, FinishedAt: time.Now(), Message: msg}
	if err := c.record(st); err != nil {
		c.say(err.Error())
	}
	return code
}

// record writes st as JSON to the exit status file and syncs it to disk.
func (c *container) record(st ExitStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode exit status: %w", err)
	}
	if _, err := c.exit.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("record exit status: %w", err)
	}
	if err := c.exit.Sync(); err != nil {
		return fmt.Errorf("sync exit status: %w", err)
	}
	return nil
}

// say writes one line about PID 1 itself to the log's stderr stream.
func (c *container) say(msg string) {
	_, _ = c.msgs.Write([]byte(msgPrefix + msg + "\n"))
}
