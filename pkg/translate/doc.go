// Package translate turns a pod spec into what the kernel is told about it:
// the pod's QoS class, the cgroup paths of the pod and its containers (in the
// kubelet's cgroupfs layout, relative to the cgroup root) and the values of
// their cgroup files (cpu.weight, cpu.max, memory.max, pids.max,
// memory.oom.group), following the upstream kubelet's rules; and how each
// container is confined (capabilities, no_new_privs, read-only rootfs,
// privileged, procMount) and which pods the node's SecurityPolicy refuses
// (privileged containers, sysctls), as the kubelet with containerd does.
//
// It is pure: no I/O, no clocks, no globals; the same pod and node give the
// same Result. Writing the values is the job of package cgroup.
package translate
