// Package cgroup owns the pod and QoS cgroup tree below the agent's cgroup
// root, on github.com/opencontainers/cgroups (cgroup v2, or v1/hybrid), and
// reads the files the kernel uses to report on it (memory.events, cpu.stat).
package cgroup
