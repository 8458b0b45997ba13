// Package pid1 is the first process of every container and of every pod
// sandbox: the agent binary re-executed in a small mode that reaps zombies,
// forwards signals, writes the container's output as CRI log lines and records
// the app's exit status, so no image needs an init and the agent can restart
// without losing exit codes or logs.
//
// The agent starts a container's PID 1 as
//
//	/.kubelet-lite/init pid1 --log-fd=3 --exit-fd=4 -- ARGV...
//
// where fd 3 is the container's log file (opened for append) and fd 4 the
// file that receives the ExitStatus as JSON when ARGV[0] exits. A sandbox runs
//
//	/.kubelet-lite/init pause
package pid1

import "time"

const (
	// ContainerMode is the argv[1] that selects Main.
	ContainerMode = "pid1"
	// PauseMode is the argv[1] that selects Pause.
	PauseMode = "pause"
	// Path is where the agent binary is bind-mounted, read-only, in every container.
	Path = "/.kubelet-lite/init"
)

// ExitStatus is what PID 1 records when the app it started exits.
type ExitStatus struct {
	// ExitCode is the app's exit code, or 128+signal when a signal killed it.
	ExitCode int `json:"exitCode"`
	// Signal is the number of the signal that killed the app, or 0.
	Signal int `json:"signal,omitempty"`
	// StartedAt is when the app was started.
	StartedAt time.Time `json:"startedAt"`
	// FinishedAt is when the app's exit was seen.
	FinishedAt time.Time `json:"finishedAt"`
	// Message is set when the app could not be started at all (for example
	// its executable is missing); ExitCode is then 127 or 126, like a shell.
	Message string `json:"message,omitempty"`
}

// Main runs a container's PID 1. Placeholder until the package is built.
func Main(args []string) int { return 127 }

// Pause runs a pod sandbox's process. Placeholder until the package is built.
func Pause(args []string) int { return 127 }
