// Command kubelet-lite is a Kubernetes node agent that runs pods directly on
// the kernel's primitives: namespaces, cgroups, overlayfs and a Linux bridge.
package main

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // early namespace entry for "init"

	"github.com/kubelet-lite/kubelet-lite/pkg/pid1"
)

func init() {
	// libcontainer re-executes this binary as "init" inside each new container.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

func main() {
	// The in-container modes run before cobra and flag parsing to stay small.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case pid1.ContainerMode:
			os.Exit(pid1.Main(os.Args[2:]))
		case pid1.PauseMode:
			os.Exit(pid1.Pause(os.Args[2:]))
		}
	}
	if err := newRootCmd().Execute(); err != nil {
		os.Exit(1)
	}
}
