package podworker

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Capacity is what the node can hold; a zero field is not checked.
type Capacity struct {
	// MaxPods is the node's pod limit (110 upstream).
	MaxPods int
	// Allocatable is the node's allocatable cpu and memory.
	Allocatable corev1.ResourceList
}

// rejection is why the node refuses a pod, in the kubelet's words: the
// reason becomes the pod's status reason and the event's.
type rejection struct {
	Reason, Message string
}

// admit decides whether pod fits beside the pods already admitted, as the
// upstream kubelet's predicate admit handler does: the pod count, cpu and
// memory requests against allocatable, and host ports. Terminated pods do
// not count.
func admit(pod *corev1.Pod, admitted []*corev1.Pod, c Capacity) *rejection {
	var active []*corev1.Pod
	for _, p := range admitted {
		if p.UID != pod.UID && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			active = append(active, p)
		}
	}
	if c.MaxPods > 0 && len(active)+1 > c.MaxPods {
		return &rejection{Reason: "OutOfpods", Message: fmt.Sprintf(
			"Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: %d, capacity: %d", len(active), c.MaxPods)}
	}
	want := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	used := corev1.ResourceList{}
	for _, p := range active {
		for name, q := range resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}) {
			sum := used[name]
			sum.Add(q)
			used[name] = sum
		}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		capacity, ok := c.Allocatable[name]
		req := want[name]
		if !ok || req.IsZero() {
			continue
		}
		total := used[name].DeepCopy()
		total.Add(req)
		if total.Cmp(capacity) > 0 {
			u := used[name]
			return &rejection{Reason: "OutOf" + string(name), Message: fmt.Sprintf(
				"Pod was rejected: Node didn't have enough resource: %s, requested: %s, used: %s, capacity: %s",
				name, quantity(name, req), quantity(name, u), quantity(name, capacity))}
		}
	}
	taken := map[string]bool{}
	for _, p := range active {
		for _, hp := range hostPorts(p) {
			taken[hp] = true
		}
	}
	for _, hp := range hostPorts(pod) {
		proto, ip, port := splitHostPort(hp)
		for _, other := range []string{hp, proto + "/0.0.0.0/" + port} {
			if taken[other] {
				return &rejection{Reason: "NodePorts", Message: "Pod was rejected: node didn't have free ports for the requested pod ports: " + proto + " port " + port + " is in use"}
			}
		}
		if ip == "0.0.0.0" {
			for t := range taken {
				if tp, _, tport := splitHostPort(t); tp == proto && tport == port {
					return &rejection{Reason: "NodePorts", Message: "Pod was rejected: node didn't have free ports for the requested pod ports: " + proto + " port " + port + " is in use"}
				}
			}
		}
	}
	return nil
}

// hostPorts lists the pod's host ports as protocol/ip/port.
func hostPorts(pod *corev1.Pod) []string {
	var out []string
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort == 0 {
					continue
				}
				proto, ip := p.Protocol, p.HostIP
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				if ip == "" {
					ip = "0.0.0.0"
				}
				out = append(out, fmt.Sprintf("%s/%s/%d", proto, ip, p.HostPort))
			}
		}
	}
	return out
}

func splitHostPort(s string) (proto, ip, port string) {
	parts := strings.SplitN(s, "/", 3)
	return parts[0], parts[1], parts[2]
}

// quantity prints cpu in millicores and memory in bytes, as upstream does.
func quantity(name corev1.ResourceName, q resource.Quantity) string {
	if name == corev1.ResourceCPU {
		return fmt.Sprintf("%dm", q.MilliValue())
	}
	return fmt.Sprint(q.Value())
}
