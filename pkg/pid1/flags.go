package pid1

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/kubelet-lite/kubelet-lite/pkg/crilog"
)

// DefaultDrainTimeout is how long Main keeps reading the app's output after
// the app exited, for processes that still hold the pipes.
const DefaultDrainTimeout = time.Second

// options are Main's parsed arguments.
type options struct {
	logFD        int
	exitFD       int
	maxLineSize  int
	drainTimeout time.Duration
	argv         []string
}

// parseArgs parses Main's arguments: flags, then "--", then the app's argv.
func parseArgs(args []string, errOut io.Writer) (options, error) {
	fs := flag.NewFlagSet(ContainerMode, flag.ContinueOnError)
	fs.SetOutput(errOut)
	var o options
	fs.IntVar(&o.logFD, "log-fd", -1, "fd of the log file, opened for append (required)")
	fs.IntVar(&o.exitFD, "exit-fd", -1, "fd of the exit status file (required)")
	fs.IntVar(&o.maxLineSize, "max-line-size", crilog.DefaultMaxLineSize, "longest log entry content in bytes")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", DefaultDrainTimeout, "how long to read output after the app exits")
	if err := fs.Parse(args); err != nil {
		return options{}, fmt.Errorf("parse arguments: %w", err)
	}
	o.argv = fs.Args()
	switch {
	case o.logFD < 0 || o.exitFD < 0:
		return options{}, errors.New("--log-fd and --exit-fd are required")
	case o.logFD == o.exitFD || o.logFD <= 2 || o.exitFD <= 2:
		return options{}, fmt.Errorf("--log-fd=%d and --exit-fd=%d must be distinct and above 2", o.logFD, o.exitFD)
	case o.maxLineSize <= 0:
		return options{}, fmt.Errorf("--max-line-size=%d must be positive", o.maxLineSize)
	case o.drainTimeout < 0:
		return options{}, fmt.Errorf("--drain-timeout=%v must not be negative", o.drainTimeout)
	case len(o.argv) == 0:
		return options{}, errors.New("no command after the flags")
	}
	return o, nil
}
