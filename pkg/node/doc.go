// Package node keeps the node's own objects in the apiserver true to the
// machine, as the upstream kubelet does:
//
//   - the Node: registered once (created, or, when it already exists, its
//     default labels reconciled, as upstream's tryRegisterWithAPIServer
//     does), then its status — capacity and allocatable, addresses, nodeInfo,
//     daemonEndpoints and the Ready, MemoryPressure, DiskPressure and
//     PIDPressure conditions — patched on the status subresource every
//     StatusInterval when it changed, and at least every 5 minutes;
//   - the Lease kube-node-lease/<node>, renewed every LeaseDuration/4 by
//     k8s.io/component-helpers' lease controller (upstream's), owned by the
//     Node so it goes away with it;
//   - spec.podCIDR, which the controller-manager assigns: read back from the
//     Node on each status sync and reported through PodCIDR and OnPodCIDR.
//
// The controller never writes spec: status patches are two-way strategic
// merge patches of status and metadata only.
//
// Machine facts (CPU, memory, filesystem, PIDs, identities) come through the
// Machine interface; Host reads them from /proc, /sys and /etc, and package
// nodetest has a fake for tests.
//
// Condition signals and thresholds (upstream's hard-eviction defaults):
//
//	MemoryPressure  MemAvailable (/proc/meminfo) < 100Mi
//	DiskPressure    RootDir's filesystem: available < 10% or free inodes < 5%
//	PIDPressure     available PIDs (min(pid_max, threads-max) − tasks) < 10%
//	                (upstream has no default pid.available threshold)
//
// Allocatable is capacity − SystemReserved − KubeReserved − the hard
// eviction reservation (memory 100Mi, ephemeral-storage 10% of capacity),
// clamped at 0, as upstream computes it.
//
// The cgroup version is published as the label kubelet-lite.io/cgroup-version
// ("v1" or "v2"); NodeSystemInfo has no field for it.
package node
