package serviceenv

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func TestFromService(t *testing.T) {
	cases := []struct {
		name string
		svc  *corev1.Service
		want []corev1.EnvVar
	}{
		{"unnamed TCP port", svc("ns", "web", "10.0.0.5", corev1.ServicePort{Port: 80}), []corev1.EnvVar{
			{Name: "WEB_SERVICE_HOST", Value: "10.0.0.5"},
			{Name: "WEB_SERVICE_PORT", Value: "80"},
			{Name: "WEB_PORT", Value: "tcp://10.0.0.5:80"},
			{Name: "WEB_PORT_80_TCP", Value: "tcp://10.0.0.5:80"},
			{Name: "WEB_PORT_80_TCP_PROTO", Value: "tcp"},
			{Name: "WEB_PORT_80_TCP_PORT", Value: "80"},
			{Name: "WEB_PORT_80_TCP_ADDR", Value: "10.0.0.5"},
		}},
		{"dashes, named ports, UDP second", svc("ns", "my-svc", "10.0.0.6",
			corev1.ServicePort{Name: "http-alt", Port: 8080, Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}), []corev1.EnvVar{
			{Name: "MY_SVC_SERVICE_HOST", Value: "10.0.0.6"},
			{Name: "MY_SVC_SERVICE_PORT", Value: "8080"},
			{Name: "MY_SVC_SERVICE_PORT_HTTP_ALT", Value: "8080"},
			{Name: "MY_SVC_SERVICE_PORT_DNS", Value: "53"},
			{Name: "MY_SVC_PORT", Value: "tcp://10.0.0.6:8080"},
			{Name: "MY_SVC_PORT_8080_TCP", Value: "tcp://10.0.0.6:8080"},
			{Name: "MY_SVC_PORT_8080_TCP_PROTO", Value: "tcp"},
			{Name: "MY_SVC_PORT_8080_TCP_PORT", Value: "8080"},
			{Name: "MY_SVC_PORT_8080_TCP_ADDR", Value: "10.0.0.6"},
			{Name: "MY_SVC_PORT_53_UDP", Value: "udp://10.0.0.6:53"},
			{Name: "MY_SVC_PORT_53_UDP_PROTO", Value: "udp"},
			{Name: "MY_SVC_PORT_53_UDP_PORT", Value: "53"},
			{Name: "MY_SVC_PORT_53_UDP_ADDR", Value: "10.0.0.6"},
		}},
		{"IPv6 address in brackets", svc("ns", "v6", "fd00::1", corev1.ServicePort{Port: 443, Protocol: corev1.ProtocolSCTP}), []corev1.EnvVar{
			{Name: "V6_SERVICE_HOST", Value: "fd00::1"},
			{Name: "V6_SERVICE_PORT", Value: "443"},
			{Name: "V6_PORT", Value: "sctp://[fd00::1]:443"},
			{Name: "V6_PORT_443_SCTP", Value: "sctp://[fd00::1]:443"},
			{Name: "V6_PORT_443_SCTP_PROTO", Value: "sctp"},
			{Name: "V6_PORT_443_SCTP_PORT", Value: "443"},
			{Name: "V6_PORT_443_SCTP_ADDR", Value: "fd00::1"},
		}},
		{"headless", svc("ns", "h", "None", corev1.ServicePort{Port: 80}), nil},
		{"no cluster IP yet", svc("ns", "h", "", corev1.ServicePort{Port: 80}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromService(tc.svc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FromService = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestForPod(t *testing.T) {
	services := []*corev1.Service{
		svc("default", "kubernetes", "10.96.0.1", corev1.ServicePort{Name: "https", Port: 443}),
		svc("default", "other", "10.96.0.9", corev1.ServicePort{Port: 1}),
		svc("app", "db", "10.96.0.2", corev1.ServicePort{Port: 5432}),
		svc("app", "headless", "None", corev1.ServicePort{Port: 80}),
		svc("elsewhere", "cache", "10.96.0.3", corev1.ServicePort{Port: 6379}),
	}
	hostOf := func(vars map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range vars {
			if strings.HasSuffix(k, "_SERVICE_HOST") {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name  string
		svcs  []*corev1.Service
		ns    string
		links bool
		want  map[string]string
	}{
		{"links: the namespace's and kubernetes", services, "app", true,
			map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "DB_SERVICE_HOST": "10.96.0.2"}},
		{"no links: kubernetes only", services, "app", false,
			map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1"}},
		{"default namespace: all of it", services, "default", true,
			map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "OTHER_SERVICE_HOST": "10.96.0.9"}},
		{"the namespace's kubernetes wins", append([]*corev1.Service{svc("app", "kubernetes", "10.96.0.7", corev1.ServicePort{Port: 1})}, services...), "app", true,
			map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.7", "DB_SERVICE_HOST": "10.96.0.2"}},
		{"no services", nil, "app", true, map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hostOf(ForPod(tc.svcs, tc.ns, tc.links)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("service hosts = %v, want %v", got, tc.want)
			}
		})
	}
	if got := ForPod(services[:1], "x", false); len(got) != 8 || got["KUBERNETES_SERVICE_PORT_HTTPS"] != "443" || got["KUBERNETES_PORT"] != "tcp://10.96.0.1:443" {
		t.Errorf("kubernetes variables = %v, want the 8 of one named TCP port", got)
	}
}
