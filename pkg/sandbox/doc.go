// Package sandbox runs pod sandboxes and their containers on libcontainer.
//
// A sandbox is a tiny libcontainer container running the agent binary in
// pause mode; it owns the pod's NET, IPC and UTS namespaces. Each app
// container joins those namespaces by path and gets its own PID, MNT and
// CGROUP namespaces, an overlayfs rootfs, and the agent binary as PID 1 (see
// package pid1), which records the app's exit status in the state directory.
//
// Containers are never tied to the agent process: no parent-death signal, no
// stdio pipes, all state on disk under Config.Root. The runtime watches
// container exits with pidfds registered with Go's netpoller (no thread per
// container) and reaps through them the inits that are its children; a new
// Runtime finds running containers again after an agent restart, when they
// are no longer its children.
//
// State layout under Config.Root:
//
//	libcontainer/<id>/                     libcontainer's own state
//	pods/<uid>/pod.json                    sandbox record (podRecord)
//	pods/<uid>/sandbox/rootfs/             the sandbox's (almost) empty rootfs
//	pods/<uid>/containers/<name>/meta.json container record (containerRecord)
//	pods/<uid>/containers/<name>/exit.json pid1.ExitStatus, written by PID 1
//	pods/<uid>/containers/<name>/final.json the exit as the runtime recorded it
//	pods/<uid>/containers/<name>/{rootfs,upper,work}/ the overlay rootfs
package sandbox
