package main

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/network"
)

func TestPortMappings(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "sidecar", Ports: []corev1.ContainerPort{{ContainerPort: 9090, HostPort: 19090, Protocol: corev1.ProtocolUDP}}}},
		Containers: []corev1.Container{
			{Name: "web", Ports: []corev1.ContainerPort{
				{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP, HostIP: "127.0.0.1"},
				{ContainerPort: 443}, // no host port: not mapped
			}},
			{Name: "sctp", Ports: []corev1.ContainerPort{{ContainerPort: 36412, HostPort: 36412, Protocol: corev1.ProtocolSCTP}}},
		},
	}}
	want := []network.PortMapping{
		{HostPort: 19090, ContainerPort: 9090, Protocol: "udp"},
		{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"},
		{HostPort: 36412, ContainerPort: 36412, Protocol: "sctp"},
	}
	if got := portMappings(pod); !reflect.DeepEqual(got, want) {
		t.Errorf("portMappings = %+v, want %+v", got, want)
	}
}
