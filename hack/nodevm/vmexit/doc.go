// Command vmexit ends the node VM with an exit status the host can read.
//
// It runs as the last step of the guest's /init: it raises its I/O privilege
// level with iopl(3) and writes the status to qemu's isa-debug-exit port
// (0xf4), which makes qemu exit with (status<<1)|1. The Debian cloud kernel
// has no /dev/port, hence the direct port write. Statuses above 127 are
// clamped to 127 because the host only sees 8 bits.
//
// Usage: vmexit STATUS
package main
