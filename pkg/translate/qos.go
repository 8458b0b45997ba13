package translate

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// QOSClass returns the pod's QoS class by the upstream rule, on cpu and
// memory only: Guaranteed when every container (init containers too) has cpu
// and memory limits equal to its requests, BestEffort when no container has
// any cpu or memory request or limit, else Burstable. A limit without a
// request counts as request = limit, as API defaulting makes it; zero
// quantities count as unset. A nil pod is BestEffort.
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod == nil {
		return corev1.PodQOSBestEffort
	}
	any, guaranteed := false, true
	each := func(c *corev1.Container) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := effectiveRequest(c, name), c.Resources.Limits[name]
			if req.Sign() > 0 || lim.Sign() > 0 {
				any = true
			}
			if lim.Sign() <= 0 || req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		each(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		each(&pod.Spec.Containers[i])
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}

// effectiveRequest is the container's request for name, or its limit when
// the request is missing (API defaulting), or zero.
func effectiveRequest(c *corev1.Container, name corev1.ResourceName) resource.Quantity {
	if q, ok := c.Resources.Requests[name]; ok {
		return q
	}
	return c.Resources.Limits[name]
}
