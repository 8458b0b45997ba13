// Command kubelet-lite-init is the small PID 1 of kubelet-lite's containers
// and pod sandboxes (see pkg/pid1). It links nothing but pkg/pid1, so each
// of the two such processes per pod costs well under a MiB; the agent embeds
// it and bind-mounts it read-only into every container. The agent binary can
// play the same role itself, at several MiB per process.
package main

import (
	"fmt"
	"os"

	"github.com/kubelet-lite/kubelet-lite/pkg/pid1"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s %s|%s [args]\n", os.Args[0], pid1.ContainerMode, pid1.PauseMode)
		os.Exit(2)
	}
	switch os.Args[1] {
	case pid1.ContainerMode:
		os.Exit(pid1.Main(os.Args[2:]))
	case pid1.PauseMode:
		os.Exit(pid1.Pause(os.Args[2:]))
	}
	fmt.Fprintf(os.Stderr, "%s: unknown mode %q\n", os.Args[0], os.Args[1])
	os.Exit(2)
}
