// Package logrotate rotates containers' CRI log files under /var/log/pods
// the way the kubelet's container log manager does: a log that grows beyond
// MaxSize is rotated to <n>.log.<YYYYMMDD-HHMMSS>, older rotated files are
// gzipped when Compress is set, and beyond MaxFiles files (the live one
// included) the oldest are deleted.
//
// The writer of a log here is the container's PID 1, which holds the file
// open with O_APPEND and cannot be told to reopen it, so a log is rotated by
// copy-then-truncate: its content is copied to the rotated name and the
// live file is truncated to 0; the writer's next O_APPEND write lands at the
// new end. Lines written after the last copy pass and before the truncate
// (a window of one stat and one ftruncate, microseconds) are lost, and a
// reader that follows the live file sees it shrink; Rotated lists a log's
// rotated files so such a reader can pick up what it had not read.
package logrotate
