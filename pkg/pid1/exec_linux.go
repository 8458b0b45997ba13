package pid1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// defaultPath is the search path when PATH is unset, as dash and bash use it.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// startError is why the app could not be started; code is 126 or 127.
type startError struct {
	code int
	msg  string
}

func (e *startError) Error() string { return e.msg }

// app is the started ARGV: its pid and the read ends of its output pipes.
type app struct {
	pid     int
	stdout  *os.File
	stderr  *os.File
	started time.Time
}

// lookPath resolves name as a shell does: a name with a slash is used as it
// is; any other is searched in the directories of path ("" is the current
// directory). A file found but not executable gives 126 unless an executable
// one comes later in path; nothing found gives 127.
func lookPath(name, path string) (string, *startError) {
	if name == "" {
		return "", &startError{ExitNotFound, `exec "": empty command`}
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	var denied string
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if dir == "." {
			p = "./" + name
		}
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			continue
		}
		if unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS) == nil {
			return p, nil
		}
		if denied == "" {
			denied = p
		}
	}
	if denied != "" {
		return "", &startError{ExitNotExecutable, fmt.Sprintf("exec %q: %s: permission denied", name, denied)}
	}
	return "", &startError{ExitNotFound, fmt.Sprintf("exec %q: executable file not found in $PATH", name)}
}

// execFailure maps execve's error for path to a shell's exit code.
func execFailure(name, path string, err error) *startError {
	what := err.Error()
	code := ExitNotExecutable
	switch {
	case errors.Is(err, unix.ENOENT):
		code = ExitNotFound
		if _, statErr := os.Stat(path); statErr == nil {
			what += " (is its interpreter or dynamic loader missing?)"
		}
	case errors.Is(err, unix.EACCES):
		if st, statErr := os.Stat(path); statErr == nil && st.IsDir() {
			what = "is a directory"
		}
	}
	if path != name {
		return &startError{code, fmt.Sprintf("exec %q (%s): %s", name, path, what)}
	}
	return &startError{code, fmt.Sprintf("exec %q: %s", name, what)}
}

// startApp starts argv in its own process group with stdin on /dev/null and
// stdout and stderr on pipes whose read ends it returns. Only fds 0-2 reach
// the app: every other fd of this process must be close-on-exec.
func startApp(argv []string) (*app, error) {
	pathEnv, ok := os.LookupEnv("PATH")
	if !ok {
		pathEnv = defaultPath
	}
	path, serr := lookPath(argv[0], pathEnv)
	if serr != nil {
		return nil, serr
	}
	var out, errp [2]int
	if err := pipe(&out); err != nil {
		return nil, err
	}
	if err := pipe(&errp); err != nil {
		closeAll(out[0], out[1])
		return nil, err
	}
	stdin, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		stdin = 0 // the agent gives us /dev/null as stdin
	}
	a := &app{started: time.Now()}
	a.pid, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{uintptr(stdin), uintptr(out[1]), uintptr(errp[1])},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if stdin != 0 {
		closeAll(stdin)
	}
	closeAll(out[1], errp[1])
	if err != nil {
		closeAll(out[0], errp[0])
		return nil, execFailure(argv[0], path, err)
	}
	a.stdout = os.NewFile(uintptr(out[0]), "stdout")
	a.stderr = os.NewFile(uintptr(errp[0]), "stderr")
	return a, nil
}

// pipe makes a close-on-exec pipe whose read end is non-blocking, so that
// os.NewFile puts it in the poller and read deadlines work on it.
func pipe(p *[2]int) error {
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("create pipe: %w", err)
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		closeAll(p[0], p[1])
		return fmt.Errorf("set pipe non-blocking: %w", err)
	}
	return nil
}

func closeAll(fds ...int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}
