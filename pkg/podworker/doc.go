// Package podworker runs one worker per pod that drives the node towards the
// pod's spec, level-triggered: it reads what is running from the runtime,
// decides what to start, restart or stop (init containers in order, restart
// policy with upstream's CrashLoopBackOff), does it, and on deletion stops the
// pod gracefully and removes everything it made.
package podworker
