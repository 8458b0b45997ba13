package podworker

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

func TestAdmit(t *testing.T) {
	pod := func(uid, cpu, mem string, phase corev1.PodPhase, ports ...corev1.ContainerPort) *corev1.Pod {
		p := &corev1.Pod{}
		p.UID = types.UID(uid)
		p.Status.Phase = phase
		req := corev1.ResourceList{}
		if cpu != "" {
			req[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			req[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}, Ports: ports}}
		return p
	}
	node := Capacity{MaxPods: 2, Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
	http := corev1.ContainerPort{ContainerPort: 80, HostPort: 8080}
	httpOnIP := corev1.ContainerPort{ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1"}
	httpUDP := corev1.ContainerPort{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolUDP}
	cases := []struct {
		name     string
		pod      *corev1.Pod
		admitted []*corev1.Pod
		want     string // reason, "" = admitted
		message  string
	}{
		{"empty node", pod("a", "1", "512Mi", ""), nil, "", ""},
		{"fits beside another", pod("a", "1", "512Mi", ""), []*corev1.Pod{pod("b", "1", "512Mi", "Running")}, "", ""},
		{"too many pods", pod("a", "", "", ""), []*corev1.Pod{pod("b", "", "", "Running"), pod("c", "", "", "Pending")}, "OutOfpods",
			"Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"},
		{"terminated pods do not count", pod("a", "", "", ""), []*corev1.Pod{pod("b", "", "", "Succeeded"), pod("c", "", "", "Failed")}, "", ""},
		{"itself does not count", pod("a", "", "", ""), []*corev1.Pod{pod("a", "", "", "Running"), pod("b", "", "", "Running")}, "", ""},
		{"cpu over allocatable", pod("a", "1500m", "", ""), []*corev1.Pod{pod("b", "1", "", "Running")}, "OutOfcpu",
			"Pod was rejected: Node didn't have enough resource: cpu, requested: 1500m, used: 1000m, capacity: 2000m"},
		{"memory over allocatable", pod("a", "", "1Gi", ""), []*corev1.Pod{pod("b", "", "1", "Running")}, "OutOfmemory",
			"Pod was rejected: Node didn't have enough resource: memory, requested: 1073741824, used: 1, capacity: 1073741824"},
		{"host port taken", pod("a", "", "", "", http), []*corev1.Pod{pod("b", "", "", "Running", http)}, "NodePorts",
			"Pod was rejected: node didn't have free ports for the requested pod ports: TCP port 8080 is in use"},
		{"host port on one IP against the wildcard", pod("a", "", "", "", httpOnIP), []*corev1.Pod{pod("b", "", "", "Running", http)}, "NodePorts",
			"Pod was rejected: node didn't have free ports for the requested pod ports: TCP port 8080 is in use"},
		{"wildcard against a port on one IP", pod("a", "", "", "", http), []*corev1.Pod{pod("b", "", "", "Running", httpOnIP)}, "NodePorts",
			"Pod was rejected: node didn't have free ports for the requested pod ports: TCP port 8080 is in use"},
		{"same port other protocol", pod("a", "", "", "", httpUDP), []*corev1.Pod{pod("b", "", "", "Running", http)}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := admit(tc.pod, tc.admitted, node)
			switch {
			case tc.want == "" && r != nil:
				t.Fatalf("rejected: %+v, want admitted", r)
			case tc.want != "" && (r == nil || r.Reason != tc.want || r.Message != tc.message):
				t.Fatalf("got %+v, want %s: %s", r, tc.want, tc.message)
			}
		})
	}
}
