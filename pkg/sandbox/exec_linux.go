package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// ErrNotRunning is returned by Exec for a container that exists but whose
// PID 1 is not running (created, exited, or killed).
var ErrNotRunning = errors.New("container is not running")

// drainTimeout bounds the wait for an exec'd process's output after it
// exited: processes it left in the background may hold the pipes open.
const drainTimeout = time.Second

// ExecOptions describes a process to run in a running container.
type ExecOptions struct {
	// Cmd is the command and its arguments; Cmd[0] is resolved through the
	// PATH of the process's environment, inside the container.
	Cmd []string
	// Env is appended to the container's environment (later entries win).
	Env []string
	// Stdin feeds the process's standard input (nil: /dev/null). Exec does
	// not wait for a Stdin that has no more data to be read to its end.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output (nil: discarded).
	// Exec returns after copying what the process and the children that
	// share its output wrote, waiting at most drainTimeout after it exits.
	Stdout, Stderr io.Writer
	// TTY runs the process on a new pseudo-terminal as its controlling
	// terminal: Stdin feeds it, Stdout receives its output, Stderr is unused.
	TTY bool
	// Resize changes the terminal's size (TTY only); may be nil.
	Resize <-chan TerminalSize
}

// TerminalSize is the size of an exec's terminal in characters.
type TerminalSize struct{ Width, Height uint16 }

// processDefaults are the user, environment and working directory of a
// container's processes, as its PID 1 was started with.
type processDefaults struct {
	uid, gid int
	groups   []int
	env      []string
	cwd      string
}

// Exec runs a process in a running container, as `runc exec` does: in the
// container's namespaces and cgroup, with its PID 1's user, supplementary
// groups, environment and working directory, and the container's
// capabilities. It returns the process's exit code (128+signal when a
// signal ended it). When ctx ends first, the process and every descendant
// it still has are killed (SIGKILL) and reaped, and the error wraps
// ctx.Err(). The process is a child of the agent: it must stay up for the
// exec's duration. Errors wrap ErrNotFound for an unknown container and
// ErrNotRunning for a container whose PID 1 is not running.
func (r *Runtime) Exec(ctx context.Context, uid types.UID, name string, opts ExecOptions) (int, error) {
	if err := errors.Join(validUID(uid), validName(name)); err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	if len(opts.Cmd) == 0 {
		return -1, fmt.Errorf("exec in %s/%s: no command", uid, name)
	}
	if err := errors.Join(ctx.Err(), r.writable("exec")); err != nil {
		return -1, fmt.Errorf("exec in %s/%s: %w", uid, name, err)
	}
	c, defaults, err := r.execTarget(uid, name)
	if err != nil {
		return -1, fmt.Errorf("exec in %s/%s: %w", uid, name, err)
	}
	code, err := runProcess(ctx, c, defaults, opts)
	if err != nil {
		return code, fmt.Errorf("exec %q in %s/%s: %w", opts.Cmd[0], uid, name, err)
	}
	klog.V(4).InfoS("Exec finished", "uid", uid, "container", name, "cmd", opts.Cmd, "exitCode", code)
	return code, nil
}

// execTarget loads the running libcontainer container of a container
// record and the defaults of its processes.
func (r *Runtime) execTarget(uid types.UID, name string) (*libcontainer.Container, processDefaults, error) {
	var meta containerRecord
	if err := readJSON(filepath.Join(r.layout.container(uid, name), metaFile), &meta); err != nil {
		return nil, processDefaults{}, err
	}
	if !alive(meta.PID, meta.PIDStart) {
		return nil, processDefaults{}, ErrNotRunning
	}
	c, err := libcontainer.Load(r.layout.libcontainer(), meta.ID)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return nil, processDefaults{}, fmt.Errorf("container %s: %w", meta.ID, ErrNotFound)
	}
	if err != nil {
		return nil, processDefaults{}, fmt.Errorf("load container %s: %w", meta.ID, err)
	}
	// The record says what the app was started with. Containers made before
	// it did are read from /proc, which is only right once PID 1 has been
	// exec'd: right after a start, it may still be libcontainer's init.
	var defaults processDefaults
	if p := meta.Process; p != nil {
		defaults = processDefaults{uid: p.UID, gid: p.GID, groups: p.Groups, env: p.Env, cwd: p.Cwd}
	} else if defaults, err = readDefaults(meta.PID); err != nil {
		return nil, processDefaults{}, err
	}
	// Checked again: the values read above belong to PID 1 only if it is
	// still the same process.
	if !alive(meta.PID, meta.PIDStart) {
		return nil, processDefaults{}, ErrNotRunning
	}
	return c, defaults, nil
}

// readDefaults reads what PID 1 of a container runs with from /proc. The
// container record does not hold the user, environment and working
// directory; PID 1 never changes them (see package pid1), and /proc/<pid>/
// environ is the environment it was started with.
func readDefaults(pid int) (processDefaults, error) {
	var d processDefaults
	proc := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		return d, fmt.Errorf("read user of pid 1: %w", err)
	}
	ids, err := statusIDs(status)
	if err != nil {
		return d, fmt.Errorf("read user of pid 1: %w", err)
	}
	d.uid, d.gid, d.groups = ids.uid, ids.gid, ids.groups
	environ, err := os.ReadFile(proc + "/environ")
	if err != nil {
		return d, fmt.Errorf("read environment of pid 1: %w", err)
	}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if len(kv) > 0 {
			d.env = append(d.env, string(kv))
		}
	}
	// PID 1 is in another mount namespace whose root is the container's
	// rootfs, so the kernel prints its cwd relative to that root.
	d.cwd, err = os.Readlink(proc + "/cwd")
	if err != nil || !strings.HasPrefix(d.cwd, "/") {
		return d, fmt.Errorf("read working directory of pid 1: %q: %w", d.cwd, err)
	}
	return d, nil
}

type procIDs struct {
	uid, gid int
	groups   []int
}

// statusIDs parses the effective uid and gid and the supplementary groups
// of a /proc/<pid>/status file.
func statusIDs(status []byte) (procIDs, error) {
	var ids procIDs
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		var err error
		switch key {
		case "Uid", "Gid":
			if len(f) < 2 {
				return ids, fmt.Errorf("bad %s line %q", key, sc.Text())
			}
			n, perr := strconv.Atoi(f[1]) // real, effective, saved, fs
			if key == "Uid" {
				ids.uid = n
			} else {
				ids.gid = n
			}
			err = perr
			seen++
		case "Groups":
			for _, g := range f {
				n, perr := strconv.Atoi(g)
				err = errors.Join(err, perr)
				ids.groups = append(ids.groups, n)
			}
		}
		if err != nil {
			return ids, fmt.Errorf("bad %s line %q: %w", key, sc.Text(), err)
		}
	}
	if seen != 2 {
		return ids, errors.New("no Uid or Gid line")
	}
	return ids, nil
}

// runProcess starts the exec'd process, copies its stdio, and waits for it
// or ctx.
func runProcess(ctx context.Context, c *libcontainer.Container, d processDefaults, opts ExecOptions) (int, error) {
	p := &libcontainer.Process{
		Args: opts.Cmd, Env: append(append([]string{}, d.env...), opts.Env...), Cwd: d.cwd,
		UID: d.uid, GID: d.gid, AdditionalGroups: d.groups,
	}
	x, err := newExecIO(p, opts)
	if err != nil {
		return -1, err
	}
	defer x.close()
	if err := c.Run(p); err != nil {
		return -1, fmt.Errorf("start: %w", err)
	}
	if err := x.started(opts); err != nil {
		killTree(p)
		_, _ = p.Wait()
		return -1, err
	}
	exited := make(chan struct{})
	killed := make(chan bool, 1)
	go func() {
		select {
		case <-ctx.Done():
			killTree(p)
			killed <- true
		case <-exited:
			killed <- false
		}
	}()
	state, werr := p.Wait()
	close(exited)
	wasKilled := <-killed
	x.finish(drainTimeout)
	if state == nil {
		return -1, fmt.Errorf("wait: %w", werr)
	}
	code := exitCode(state)
	if wasKilled {
		return code, fmt.Errorf("killed: %w", context.Cause(ctx))
	}
	return code, nil
}

// exitCode is the process's exit status, or 128+signal.
func exitCode(state *os.ProcessState) int {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}

// execIO connects an exec'd process's stdio to ExecOptions: a *os.File is
// passed as is; other readers and writers go through pipes copied here,
// and a TTY through the pty master that runc init sends back.
type execIO struct {
	childEnds []*os.File    // closed once the process started
	parent    []*os.File    // our ends, closed by finish or close
	stdinW    *os.File      // closed when the process exited
	console   *os.File      // our end of the console socket (TTY)
	outputs   chan struct{} // one value per output copier that finished
	nOutputs  int
	stop      chan struct{} // ends the resize loop
}

func newExecIO(p *libcontainer.Process, opts ExecOptions) (*execIO, error) {
	x := &execIO{outputs: make(chan struct{}, 2), stop: make(chan struct{})}
	if opts.TTY {
		parent, child, err := socketPair()
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		x.console, p.ConsoleSocket = parent, child
		x.childEnds = append(x.childEnds, child)
		return x, nil
	}
	var err error
	if p.Stdin, err = x.input(opts.Stdin); err != nil {
		x.close()
		return nil, err
	}
	if p.Stdout, err = x.output(opts.Stdout); err != nil {
		x.close()
		return nil, err
	}
	if sameWriter(opts.Stdout, opts.Stderr) {
		p.Stderr = p.Stdout
	} else if p.Stderr, err = x.output(opts.Stderr); err != nil {
		x.close()
		return nil, err
	}
	return x, nil
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}

// sameWriter tells whether a and b are the same writer, without panicking
// on writers of types that cannot be compared.
func sameWriter(a, b io.Writer) bool {
	if a == nil || b == nil {
		return false
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// input returns what the process reads as stdin.
func (x *execIO) input(r io.Reader) (io.Reader, error) {
	if r == nil {
		return nil, nil
	}
	if f, ok := r.(*os.File); ok {
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	x.childEnds = append(x.childEnds, pr)
	x.parent = append(x.parent, pw)
	x.stdinW = pw
	return pr, nil
}

// output returns what the process writes to for w.
func (x *execIO) output(w io.Writer) (io.Writer, error) {
	if w == nil {
		return nil, nil
	}
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	x.childEnds = append(x.childEnds, pw)
	x.parent = append(x.parent, pr)
	x.nOutputs++
	go x.copyOut(w, pr)
	return pw, nil
}

func (x *execIO) copyOut(w io.Writer, r io.Reader) {
	_, _ = io.Copy(w, r)
	x.outputs <- struct{}{}
}

// started closes the child's ends and starts copying stdin (and, with a
// TTY, receives the pty master and starts copying both ways).
func (x *execIO) started(opts ExecOptions) error {
	for _, f := range x.childEnds {
		f.Close()
	}
	x.childEnds = nil
	if x.console != nil {
		master, err := recvFile(x.console)
		if err != nil {
			return fmt.Errorf("receive pty master: %w", err)
		}
		x.parent = append(x.parent, master)
		out := opts.Stdout
		if out == nil {
			out = io.Discard // a full pty buffer would block the process
		}
		x.nOutputs++
		go x.copyOut(out, master)
		if opts.Stdin != nil {
			go func() { _, _ = io.Copy(master, opts.Stdin) }()
		}
		if opts.Resize != nil {
			go x.resize(master, opts.Resize)
		}
		return nil
	}
	if x.stdinW != nil {
		w := x.stdinW
		go func() {
			_, _ = io.Copy(w, opts.Stdin)
			w.Close()
		}()
	}
	return nil
}

func (x *execIO) resize(master *os.File, sizes <-chan TerminalSize) {
	for {
		select {
		case <-x.stop:
			return
		case s, ok := <-sizes:
			if !ok {
				return
			}
			ws := &unix.Winsize{Row: s.Height, Col: s.Width}
			if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
				klog.V(4).InfoS("Cannot resize exec terminal", "err", err)
			}
		}
	}
}

// recvFile receives one file descriptor sent over a unix socket.
func recvFile(sock *os.File) (*os.File, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	name := make([]byte, 4096)
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("bad control message (%d): %w", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("bad unix rights (%d fds): %w", len(fds), err)
	}
	// Non-blocking, so Go's poller can interrupt reads on Close.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// finish runs after the process exited: it stops feeding stdin, waits at
// most timeout for the output copiers to reach the end, then closes
// everything, which ends the copiers.
func (x *execIO) finish(timeout time.Duration) {
	close(x.stop)
	if x.stdinW != nil {
		x.stdinW.Close()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	done := 0
	for ; done < x.nOutputs; done++ {
		select {
		case <-x.outputs:
			continue
		case <-deadline.C:
		}
		break
	}
	x.close()
	for ; done < x.nOutputs; done++ {
		<-x.outputs
	}
}

// close closes every file not closed yet; Close on a closed file is a
// harmless error.
func (x *execIO) close() {
	for _, f := range append(x.childEnds, x.parent...) {
		f.Close()
	}
	if x.console != nil {
		x.console.Close()
	}
}

// killTree stops the exec'd process and every descendant it has (SIGSTOP,
// so none can fork while the tree is collected), then SIGKILLs them all.
// The orphans are reaped by the container's PID 1; the exec'd process is
// signalled through its pidfd and must be reaped by the caller.
func killTree(p *libcontainer.Process) {
	pid, err := p.Pid()
	if err != nil {
		return
	}
	_ = p.Signal(unix.SIGSTOP)
	tree := map[int]bool{pid: true}
	for range 200 {
		procs := scanProcs()
		grew := false
		for child, st := range procs {
			if !tree[child] && tree[st.ppid] {
				_ = unix.Kill(child, unix.SIGSTOP)
				tree[child], grew = true, true
			}
		}
		if !grew && allStopped(tree, procs) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for child := range tree {
		if child != pid {
			_ = unix.Kill(child, unix.SIGKILL)
		}
	}
	_ = p.Signal(unix.SIGKILL)
}

type procStat struct {
	ppid  int
	state byte
}

// scanProcs reads the parent and state of every process.
func scanProcs() map[int]procStat {
	out := map[int]procStat{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 || len(f[0]) != 1 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		out[pid] = procStat{ppid: ppid, state: f[0][0]}
	}
	return out
}

// allStopped tells whether every process of the tree is stopped or gone.
func allStopped(tree map[int]bool, procs map[int]procStat) bool {
	for pid := range tree {
		if st, ok := procs[pid]; ok && st.state != 'T' && st.state != 't' && st.state != 'Z' && st.state != 'X' {
			return false
		}
	}
	return true
}
