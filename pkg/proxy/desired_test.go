package proxy

import (
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func svc(name, clusterIP string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: clusterIP, Ports: ports},
	}
}

func port(name string, proto v1.Protocol, p int32) v1.ServicePort {
	return v1.ServicePort{Name: name, Protocol: proto, Port: p}
}

type ep struct {
	ip                          string
	ready, serving, terminating *bool
}

func ready(ip string) ep    { return ep{ip: ip} }
func notReady(ip string) ep { return ep{ip: ip, ready: ptr.To(false), serving: ptr.To(false)} }
func draining(ip string) ep {
	return ep{ip: ip, ready: ptr.To(false), serving: ptr.To(true), terminating: ptr.To(true)}
}
func terminated(ip string) ep {
	return ep{ip: ip, ready: ptr.To(false), serving: ptr.To(false), terminating: ptr.To(true)}
}

type slicePortSpec struct {
	name  string
	proto v1.Protocol
	port  int32
}

func slice(svcName, name string, ports []slicePortSpec, eps ...ep) *discovery.EndpointSlice {
	sl := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
			Labels: map[string]string{discovery.LabelServiceName: svcName}},
		AddressType: discovery.AddressTypeIPv4,
	}
	for _, p := range ports {
		sl.Ports = append(sl.Ports, discovery.EndpointPort{Name: ptr.To(p.name), Protocol: ptr.To(p.proto), Port: ptr.To(p.port)})
	}
	for _, e := range eps {
		if netip.MustParseAddr(e.ip).Is6() {
			sl.AddressType = discovery.AddressTypeIPv6
		}
		sl.Endpoints = append(sl.Endpoints, discovery.Endpoint{Addresses: []string{e.ip},
			Conditions: discovery.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating}})
	}
	return sl
}

// dump renders a State as sorted lines in the same form as proxytest.IPVS.Dump, then the bound
// addresses as "addr <ip>".
func dump(st State) []string {
	var out []string
	for k, d := range st.Services {
		line := fmt.Sprintf("%s %s", k, d.Scheduler)
		if d.Persistent {
			line += fmt.Sprintf(" persistent=%d", d.Timeout)
		}
		out = append(out, line)
		for rk, r := range d.RealServers {
			out = append(out, fmt.Sprintf("%s   %s w=%d", k, rk, r.Weight))
		}
	}
	for a := range st.Addresses {
		out = append(out, "addr "+a.String())
	}
	sort.Strings(out)
	return out
}

var http = []slicePortSpec{{"http", v1.ProtocolTCP, 8080}}

func TestCompute(t *testing.T) {
	nodeIPs := []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("fd00::10")}
	tests := []struct {
		name     string
		services []*v1.Service
		slices   []*discovery.EndpointSlice
		want     []string
	}{{
		name:     "cluster IP with three ready endpoints",
		services: []*v1.Service{svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))},
		slices:   []*discovery.EndpointSlice{slice("web", "web-1", http, ready("10.244.0.1"), ready("10.244.0.2"), ready("10.244.0.3"))},
		want: []string{
			"10.96.0.10:80/TCP   10.244.0.1:8080 w=1",
			"10.96.0.10:80/TCP   10.244.0.2:8080 w=1",
			"10.96.0.10:80/TCP   10.244.0.3:8080 w=1",
			"10.96.0.10:80/TCP rr",
			"addr 10.96.0.10",
		},
	}, {
		name: "multiple ports and protocols map by port name",
		services: []*v1.Service{svc("dns", "10.96.0.53",
			port("dns", v1.ProtocolUDP, 53), port("dns-tcp", v1.ProtocolTCP, 53), port("sctp", v1.ProtocolSCTP, 9999))},
		slices: []*discovery.EndpointSlice{slice("dns", "dns-1",
			[]slicePortSpec{{"dns", v1.ProtocolUDP, 1053}, {"dns-tcp", v1.ProtocolTCP, 1054}, {"sctp", v1.ProtocolSCTP, 9}},
			ready("10.244.0.9"))},
		want: []string{
			"10.96.0.53:53/TCP   10.244.0.9:1054 w=1",
			"10.96.0.53:53/TCP rr",
			"10.96.0.53:53/UDP   10.244.0.9:1053 w=1",
			"10.96.0.53:53/UDP rr",
			"10.96.0.53:9999/SCTP   10.244.0.9:9 w=1",
			"10.96.0.53:9999/SCTP rr",
			"addr 10.96.0.53",
		},
	}, {
		name:     "ready weight 1, terminating-serving weight 0, not ready and terminated left out",
		services: []*v1.Service{svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))},
		slices: []*discovery.EndpointSlice{slice("web", "web-1", http,
			ready("10.244.0.1"), draining("10.244.0.2"), notReady("10.244.0.3"), terminated("10.244.0.4"))},
		want: []string{
			"10.96.0.10:80/TCP   10.244.0.1:8080 w=1",
			"10.96.0.10:80/TCP   10.244.0.2:8080 w=0",
			"10.96.0.10:80/TCP rr",
			"addr 10.96.0.10",
		},
	}, {
		name:     "no ready endpoint: the terminating-but-serving ones take the traffic",
		services: []*v1.Service{svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))},
		slices: []*discovery.EndpointSlice{slice("web", "web-1", http,
			draining("10.244.0.2"), draining("10.244.0.3"), notReady("10.244.0.4"))},
		want: []string{
			"10.96.0.10:80/TCP   10.244.0.2:8080 w=1",
			"10.96.0.10:80/TCP   10.244.0.3:8080 w=1",
			"10.96.0.10:80/TCP rr",
			"addr 10.96.0.10",
		},
	}, {
		name:     "endpoints spread over two slices; a duplicate keeps its highest weight",
		services: []*v1.Service{svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))},
		slices: []*discovery.EndpointSlice{
			slice("web", "web-1", http, ready("10.244.0.1"), draining("10.244.0.2")),
			slice("web", "web-2", http, ready("10.244.0.2"), ready("10.244.0.3")),
			slice("other", "other-1", http, ready("10.244.9.9")),
		},
		want: []string{
			"10.96.0.10:80/TCP   10.244.0.1:8080 w=1",
			"10.96.0.10:80/TCP   10.244.0.2:8080 w=1",
			"10.96.0.10:80/TCP   10.244.0.3:8080 w=1",
			"10.96.0.10:80/TCP rr",
			"addr 10.96.0.10",
		},
	}, {
		name:     "no endpoints: the virtual server exists with no real servers",
		services: []*v1.Service{svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))},
		want:     []string{"10.96.0.10:80/TCP rr", "addr 10.96.0.10"},
	}, {
		name: "NodePort on the node IPs of the service's family, externalIPs bound",
		services: []*v1.Service{func() *v1.Service {
			s := svc("web", "10.96.0.10", v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, NodePort: 30080})
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.ExternalIPs = []string{"203.0.113.7"}
			return s
		}()},
		slices: []*discovery.EndpointSlice{slice("web", "web-1", http, ready("10.244.0.1"))},
		want: []string{
			"10.96.0.10:80/TCP   10.244.0.1:8080 w=1",
			"10.96.0.10:80/TCP rr",
			"192.168.1.10:30080/TCP   10.244.0.1:8080 w=1",
			"192.168.1.10:30080/TCP rr",
			"203.0.113.7:80/TCP   10.244.0.1:8080 w=1",
			"203.0.113.7:80/TCP rr",
			"addr 10.96.0.10",
			"addr 203.0.113.7",
		},
	}, {
		name: "ClientIP affinity with its timeout",
		services: []*v1.Service{func() *v1.Service {
			s := svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
			return s
		}()},
		slices: []*discovery.EndpointSlice{slice("web", "web-1", http, ready("10.244.0.1"))},
		want: []string{
			"10.96.0.10:80/TCP   10.244.0.1:8080 w=1",
			"10.96.0.10:80/TCP rr persistent=60",
			"addr 10.96.0.10",
		},
	}, {
		name: "ClientIP affinity without a config uses the default timeout",
		services: []*v1.Service{func() *v1.Service {
			s := svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			return s
		}()},
		want: []string{"10.96.0.10:80/TCP rr persistent=10800", "addr 10.96.0.10"},
	}, {
		name: "headless and ExternalName are ignored",
		services: []*v1.Service{
			svc("headless", v1.ClusterIPNone, port("http", v1.ProtocolTCP, 80)),
			func() *v1.Service {
				s := svc("ext", "", port("http", v1.ProtocolTCP, 80))
				s.Spec.Type = v1.ServiceTypeExternalName
				s.Spec.ExternalName = "example.com"
				return s
			}(),
		},
		slices: []*discovery.EndpointSlice{slice("headless", "headless-1", http, ready("10.244.0.1"))},
		want:   nil,
	}, {
		name: "dual stack: each family gets its own endpoints and node IP",
		services: []*v1.Service{func() *v1.Service {
			s := svc("web", "10.96.0.10", v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, NodePort: 30080})
			s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00:96::10"}
			s.Spec.Type = v1.ServiceTypeNodePort
			return s
		}()},
		slices: []*discovery.EndpointSlice{
			slice("web", "web-v4", http, ready("10.244.0.1")),
			slice("web", "web-v6", http, ready("fd00:244::1")),
		},
		want: []string{
			"10.96.0.10:80/TCP   10.244.0.1:8080 w=1",
			"10.96.0.10:80/TCP rr",
			"192.168.1.10:30080/TCP   10.244.0.1:8080 w=1",
			"192.168.1.10:30080/TCP rr",
			"[fd00:96::10]:80/TCP   [fd00:244::1]:8080 w=1",
			"[fd00:96::10]:80/TCP rr",
			"[fd00::10]:30080/TCP   [fd00:244::1]:8080 w=1",
			"[fd00::10]:30080/TCP rr",
			"addr 10.96.0.10",
			"addr fd00:96::10",
		},
	}, {
		name:     "slice port of another name or protocol does not match",
		services: []*v1.Service{svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))},
		slices: []*discovery.EndpointSlice{
			slice("web", "web-1", []slicePortSpec{{"http", v1.ProtocolUDP, 8080}, {"metrics", v1.ProtocolTCP, 9090}}, ready("10.244.0.1")),
		},
		want: []string{"10.96.0.10:80/TCP rr", "addr 10.96.0.10"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dump(Compute(tt.services, tt.slices, Options{NodeIPs: nodeIPs}))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestComputeScheduler(t *testing.T) {
	st := Compute([]*v1.Service{svc("web", "10.96.0.10", port("http", v1.ProtocolTCP, 80))}, nil, Options{Scheduler: "wrr"})
	want := []string{"10.96.0.10:80/TCP wrr", "addr 10.96.0.10"}
	if got := dump(st); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
