// Package volume makes a pod's volumes on the node and tells which host
// paths each container gets bind-mounted where.
//
// Volume types: emptyDir (a directory, or a tmpfs for medium Memory),
// hostPath (with upstream's type checks), configMap, secret (on a tmpfs),
// downwardAPI and projected (configMap, secret, downwardAPI and
// serviceAccountToken sources; tokens are TokenRequests bound to the pod,
// written 0600 and owned by the pod's user when all its containers run as
// one, as upstream).
// Any other type is an error wrapping ErrUnsupported.
//
// API data (configMap, secret, downwardAPI, projected) is written the way
// upstream's AtomicWriter does: the files live in a timestamped directory
// "..<time>.<rand>", the symlink "..data" points at it, and the user-visible
// names are symlinks through "..data"; an update writes a new timestamped
// directory and renames a new "..data" over the old one, so a running
// container sees either the old or the new set, never a mix. A subPath
// mount of such a volume pins one file and does not update, as upstream.
//
// Layout under Config.Dir:
//
//	<uid>/volumes/kubernetes.io~<plugin>/<volume>/     a volume (tmpfs for secret, projected and Memory emptyDir)
//	<uid>/volume-subpaths/<volume>/<container>/<index> bind mount pinning a subPath
//
// Use: Supported checks a pod without I/O (for admission); Manager.Setup,
// called on every sync of a pod with its newest version, makes or updates
// its volumes and returns each container's sandbox.Mounts; Manager.Teardown
// removes them once the pod's containers are gone; Manager.Pods lists what
// is on disk, for cleaning up after an agent restart.
//
// Manager.Teardown unmounts what is mounted below <uid> (and only there)
// and removes the directory. Manager.Run refreshes API data of pods set up
// and rotates service-account tokens at 80% of their lifetime.
package volume
