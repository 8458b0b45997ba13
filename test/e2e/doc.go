// Package e2e runs the built kubelet-lite binary as a node agent against the
// real kernel: on the host (cgroup v1 hybrid here) and inside the node VM
// (cgroup v2), with the project's own images. The tests carry the build tag
// e2e and need root, KL_BINARY (the agent) and KL_IMAGES (a directory with
// busybox.tar from hack/images/build.sh).
package e2e
