//go:build linux && amd64

package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// debugExitPort is the iobase given to qemu's -device isa-debug-exit.
const debugExitPort = 0xf4

// outb writes val to the I/O port; implemented in outb_amd64.s.
func outb(port uint16, val uint8)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "vmexit: %v\n", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: vmexit STATUS")
	}
	status, err := strconv.Atoi(args[0])
	if err != nil || status < 0 {
		return fmt.Errorf("parse status %q: not a non-negative integer", args[0])
	}
	if status > 127 {
		status = 127
	}
	if err := syscall.Iopl(3); err != nil {
		return fmt.Errorf("iopl(3): %w", err)
	}
	outb(debugExitPort, uint8(status))
	// Only reached when no isa-debug-exit device listens on the port.
	return fmt.Errorf("qemu did not exit after writing port %#x (no isa-debug-exit device?)", debugExitPort)
}
