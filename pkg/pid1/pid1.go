// Package pid1 is the first process of every container and of every pod
// sandbox: the agent binary re-executed in a small mode that reaps zombies,
// forwards signals, writes the container's output as CRI log lines and records
// the app's exit status, so no image needs an init and the agent can restart
// without losing exit codes or logs.
package pid1

const (
	// ContainerMode is the argv[1] that selects Main.
	ContainerMode = "pid1"
	// PauseMode is the argv[1] that selects Pause.
	PauseMode = "pause"
)

// Main runs a container's PID 1. Placeholder until the package is built.
func Main(args []string) int { return 127 }

// Pause runs a pod sandbox's process. Placeholder until the package is built.
func Pause(args []string) int { return 127 }
