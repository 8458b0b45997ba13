package translate

import (
	"fmt"
	"math"
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Upstream kubelet constants (pkg/kubelet/cm) and one kernel bound.
const (
	// MinShares and MaxShares bound cpu.shares (cgroup v1 units).
	MinShares = 2
	MaxShares = 262144
	// QuotaPeriod is the cpu.max period in µs.
	QuotaPeriod = 100000
	// MinQuota is the smallest cpu.max quota in µs the kubelet sets.
	MinQuota = 1000
	// MaxQuota is the largest cpu.max quota in µs the kernel accepts
	// (max_cfs_runtime, 2^44-1 µs); larger limits are clamped to it.
	MaxQuota = 1<<44 - 1

	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
)

// Cgroup names of the kubelet's cgroupfs layout.
const (
	// PodsCgroupName is the parent of all pod cgroups; Guaranteed pods sit
	// directly below it.
	PodsCgroupName = "kubepods"
	// BurstableCgroupName and BestEffortCgroupName are the QoS cgroups
	// below PodsCgroupName.
	BurstableCgroupName  = "burstable"
	BestEffortCgroupName = "besteffort"
	// SandboxCgroupName is the pod cgroup's child that holds the sandbox
	// (pause) process: cgroup v2 forbids processes in a cgroup whose
	// children have controllers enabled.
	SandboxCgroupName = "_sandbox"
)

// maxCPU caps cpu quantities before they are turned into int64 milli-CPUs,
// so that no arithmetic below overflows; any cap above MaxQuota's worth of
// CPU gives the same file values.
var (
	maxCPU    = resource.MustParse("1e9")
	maxMemory = *resource.NewQuantity(math.MaxInt64, resource.BinarySI)
)

// SandboxCgroup is the cgroup of the pod's sandbox process.
func SandboxCgroup(podCgroup string) string {
	return path.Join(podCgroup, SandboxCgroupName)
}

// PodCgroup is the pod's cgroup path relative to the cgroup root.
func PodCgroup(qos corev1.PodQOSClass, uid string) string {
	name := "pod" + uid
	switch qos {
	case corev1.PodQOSGuaranteed:
		return path.Join(PodsCgroupName, name)
	case corev1.PodQOSBestEffort:
		return path.Join(PodsCgroupName, BestEffortCgroupName, name)
	default:
		return path.Join(PodsCgroupName, BurstableCgroupName, name)
	}
}

// Pod translates a pod into its QoS class, the pod cgroup and one cgroup per
// container: init containers first, in order, then app containers. The pod
// is not modified. It returns an error naming the field when the pod is not
// one the kubelet would run (see validate).
func Pod(pod *corev1.Pod, node Node) (*Result, error) {
	if err := validate(pod, node); err != nil {
		return nil, err
	}
	pod = withDefaultRequests(pod)
	qos := QOSClass(pod)
	podPath := PodCgroup(qos, string(pod.UID))
	res := &Result{
		QOSClass: qos,
		Pod:      Cgroup{Path: podPath, Resources: podResources(pod, qos, node)},
	}
	add := func(c *corev1.Container, init bool) {
		res.Containers = append(res.Containers, Container{
			Name: c.Name,
			Init: init,
			Cgroup: Cgroup{
				Path:      path.Join(podPath, c.Name),
				Resources: containerResources(c),
			},
		})
	}
	for i := range pod.Spec.InitContainers {
		add(&pod.Spec.InitContainers[i], true)
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i], false)
	}
	return res, nil
}

// withDefaultRequests returns a copy of pod in which every container limit
// without a request also is the request, as API defaulting does.
func withDefaultRequests(pod *corev1.Pod) *corev1.Pod {
	pod = pod.DeepCopy()
	fill := func(cs []corev1.Container) {
		for i := range cs {
			r := &cs[i].Resources
			for name, lim := range r.Limits {
				if _, ok := r.Requests[name]; ok {
					continue
				}
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[name] = lim.DeepCopy()
			}
		}
	}
	fill(pod.Spec.InitContainers)
	fill(pod.Spec.Containers)
	return pod
}

// containerResources are a container's values: weight from its request,
// cpu.max and memory.max from its limits, and memory.oom.group.
func containerResources(c *corev1.Container) Resources {
	return Resources{
		CPUShares: SharesFromMilliCPU(milliCPU(c.Resources.Requests)),
		CPUQuota:  QuotaFromMilliCPU(milliCPU(c.Resources.Limits)),
		CPUPeriod: QuotaPeriod,
		MemoryMax: memoryMax(c.Resources.Limits),
		OOMGroup:  true,
	}
}

// podResources are the pod cgroup's values, as upstream's
// ResourceConfigForPod makes them: requests and limits aggregated the
// sidecar-aware way (overhead included), a quota only when every container
// has a cpu limit, memory.max only when every container has a memory limit.
func podResources(pod *corev1.Pod, qos corev1.PodQOSClass, node Node) Resources {
	r := Resources{CPUShares: MinShares, CPUQuota: -1, CPUPeriod: QuotaPeriod, MemoryMax: -1, PidsMax: node.PodPidsLimit}
	if qos == corev1.PodQOSBestEffort {
		return r
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	r.CPUShares = SharesFromMilliCPU(milliCPU(reqs))
	if everyContainerLimits(pod, corev1.ResourceCPU) {
		r.CPUQuota = QuotaFromMilliCPU(milliCPU(limits))
	}
	if everyContainerLimits(pod, corev1.ResourceMemory) {
		r.MemoryMax = memoryMax(limits)
	}
	return r
}

// everyContainerLimits reports whether every container, init containers
// included, has a non-zero limit for name.
func everyContainerLimits(pod *corev1.Pod, name corev1.ResourceName) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if q := cs[i].Resources.Limits[name]; q.Sign() <= 0 {
				return false
			}
		}
	}
	return true
}

// milliCPU is the list's cpu in milli-CPUs (rounded up), capped at maxCPU.
func milliCPU(l corev1.ResourceList) int64 {
	q, ok := l[corev1.ResourceCPU]
	if !ok || q.Sign() <= 0 {
		return 0
	}
	if q.Cmp(maxCPU) > 0 {
		q = maxCPU
	}
	return q.MilliValue()
}

// memoryMax is the list's memory in bytes (rounded up), or -1 ("max") when
// it is missing or zero.
func memoryMax(l corev1.ResourceList) int64 {
	q, ok := l[corev1.ResourceMemory]
	if !ok || q.Sign() <= 0 {
		return -1
	}
	if q.Cmp(maxMemory) > 0 {
		return math.MaxInt64
	}
	return q.Value()
}

// SharesFromMilliCPU is upstream's MilliCPUToShares: 1024 shares per CPU,
// within [MinShares, MaxShares]; 0 (no request) gives MinShares.
func SharesFromMilliCPU(milli int64) uint64 {
	if milli <= 0 {
		return MinShares
	}
	shares := milli * sharesPerCPU / milliCPUToCPU
	return uint64(min(max(shares, MinShares), MaxShares))
}

// QuotaFromMilliCPU is upstream's MilliCPUToQuota for QuotaPeriod, with -1
// ("max") for no limit, at least MinQuota and at most MaxQuota.
func QuotaFromMilliCPU(milli int64) int64 {
	if milli <= 0 {
		return -1
	}
	quota := milli * QuotaPeriod / milliCPUToCPU
	return min(max(quota, MinQuota), MaxQuota)
}

// String shows a cgroup's path and files, for logs and errors.
func (c Cgroup) String() string {
	return fmt.Sprintf("%s %v", c.Path, c.Resources.V2Files())
}
