package pid1

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

func runPause(args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", PauseMode, args)
		return 2
	}
	if err := becomeSubreaper(); err != nil {
		// Only matters when this is not PID 1 of its namespace.
		fmt.Fprintf(os.Stderr, "%s: become child subreaper: %v\n", PauseMode, err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	// Signals that would end a Go program by default, but not a pause.
	// Ignored last: once SIGHUP shows as ignored, SIGTERM is handled.
	signal.Ignore(unix.SIGHUP, unix.SIGQUIT, unix.SIGPIPE, unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM)
	reap(-1)
	for {
		select {
		case <-stop:
			return 0
		case <-chld:
			reap(-1)
		}
	}
}
