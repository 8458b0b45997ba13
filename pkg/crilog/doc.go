// Package crilog writes and reads container logs in the CRI log format, the
// one containerd and CRI-O write and the kubelet reads for `kubectl logs`:
//
//	<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n
//
// A Writer turns one output stream into such entries, exactly as containerd's
// CRI plugin does: one F (full) entry per line with the "\n" (or "\r\n")
// removed, a line longer than the maximum line size cut into P (partial)
// entries followed by a final F, and an unterminated last line written as P.
// Timestamps are in UTC (containerd formats time.Now in the local zone).
// Each entry is a single Write, so a stdout and a stderr Writer can share one
// file opened with O_APPEND.
//
// Parse reads one entry; a Reader reads a file of them and joins each
// stream's P entries with the F that ends them into whole lines.
package crilog
