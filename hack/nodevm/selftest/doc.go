// Command selftest checks, inside the node VM, the kernel features kubelet-lite
// relies on: a child cgroup v2 with cpu, memory, pids, io and cpuset whose
// cpu.max reads back what was written, and pivot_root(2) into a tmpfs inside
// a new mount namespace (which libcontainer needs and which fails when the
// root is the initramfs rootfs). hack/nodevm/selftest.sh builds it statically
// and runs it through hack/nodevm/run.sh. It exits 0 only when every check
// passes and prints one "ok ..." or "FAIL ..." line per check.
package main
