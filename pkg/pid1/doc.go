// Package pid1 is the first process of every container and of every pod
// sandbox: the agent binary re-executed in a small mode, so no image needs an
// init and no shim runs per pod. The agent can die and come back without
// losing a container's logs or exit code, because this process writes them
// to files itself.
//
// The agent starts a container's PID 1 as
//
//	/.kubelet-lite/init pid1 --log-fd=3 --exit-fd=4 -- ARGV...
//
// where fd 3 is the container's log file (opened for append) and fd 4 the
// file that receives the ExitStatus as JSON when ARGV[0] exits. Main then:
//   - becomes a child subreaper, so orphans are reparented to it also when it
//     is not PID 1 of its PID namespace, and reaps every child with wait4(-1);
//   - starts ARGV (resolved through $PATH like a shell) in its own process
//     group, stdin on /dev/null, stdout and stderr on pipes, no other fds;
//   - copies both pipes into fd 3 as CRI log lines (package crilog);
//   - forwards the signals it can catch to the app's process, like tini;
//   - when the app exits, writes and fsyncs its ExitStatus to fd 4, drains
//     the pipes for at most --drain-timeout (orphans may hold them open), and
//     exits with the app's code (128+signal if a signal killed it).
//
// If ARGV[0] cannot be started, Main logs why on the stderr stream, records
// exit code 127 (not found) or 126 (not executable) with a Message, and exits
// with that code. Its own failures before that use 125.
//
// A sandbox runs
//
//	/.kubelet-lite/init pause
//
// which reaps orphans, exits 0 on SIGTERM or SIGINT and otherwise sleeps.
//
// Both modes use a few goroutines and small fixed buffers: a container's PID
// 1 costs the Go runtime, two 4 KiB read buffers and two log line buffers of
// the max line size.
package pid1
