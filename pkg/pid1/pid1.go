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

// Exit codes of Main besides the app's own, as a shell and Docker use them.
const (
	// ExitSetupFailed means PID 1 itself failed before starting the app.
	ExitSetupFailed = 125
	// ExitNotExecutable means ARGV[0] exists but cannot be executed.
	ExitNotExecutable = 126
	// ExitNotFound means ARGV[0] was not found.
	ExitNotFound = 127
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

// Main runs a container's PID 1 with the arguments after ContainerMode and
// returns the exit code for os.Exit: the app's, 126/127 if it could not be
// started, 125 if PID 1 itself failed, 2 for bad arguments.
func Main(args []string) int { return runContainer(args) }

// Pause runs a pod sandbox's process with the arguments after PauseMode (there
// are none). It returns 0 after SIGTERM or SIGINT, 2 for bad arguments.
func Pause(args []string) int { return runPause(args) }
