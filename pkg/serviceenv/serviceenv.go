package serviceenv

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// masterService is the Service whose variables every pod gets, whatever its
// namespace and enableServiceLinks.
const masterService = "kubernetes"

// ForPod returns the service variables of a pod in namespace ns, as the
// kubelet gives them: those of the kubernetes Service in the default
// namespace always, and with links those of every Service of ns (one of ns
// named kubernetes wins over the default one). Services without a cluster IP
// (headless, or not yet allocated) give none.
func ForPod(services []*corev1.Service, ns string, links bool) map[string]string {
	chosen := map[string]*corev1.Service{}
	for _, s := range services {
		if !hasClusterIP(s) {
			continue
		}
		switch {
		case s.Namespace == ns && links:
			chosen[s.Name] = s
		case s.Namespace == metav1.NamespaceDefault && s.Name == masterService:
			if _, ok := chosen[s.Name]; !ok {
				chosen[s.Name] = s
			}
		}
	}
	vars := map[string]string{}
	for _, s := range chosen {
		for _, e := range FromService(s) {
			vars[e.Name] = e.Value
		}
	}
	return vars
}

// FromService returns the variables of one Service with a cluster IP: the
// host and first port, each named port, and Docker's link variables for
// every port.
func FromService(s *corev1.Service) []corev1.EnvVar {
	if !hasClusterIP(s) || len(s.Spec.Ports) == 0 {
		return nil
	}
	prefix := varName(s.Name)
	ip := s.Spec.ClusterIP
	out := []corev1.EnvVar{
		{Name: prefix + "_SERVICE_HOST", Value: ip},
		{Name: prefix + "_SERVICE_PORT", Value: strconv.Itoa(int(s.Spec.Ports[0].Port))},
	}
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			out = append(out, corev1.EnvVar{Name: prefix + "_SERVICE_PORT_" + varName(p.Name), Value: strconv.Itoa(int(p.Port))})
		}
	}
	for i, p := range s.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		port := strconv.Itoa(int(p.Port))
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			out = append(out, corev1.EnvVar{Name: prefix + "_PORT", Value: url})
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		out = append(out,
			corev1.EnvVar{Name: pp, Value: url},
			corev1.EnvVar{Name: pp + "_PROTO", Value: strings.ToLower(proto)},
			corev1.EnvVar{Name: pp + "_PORT", Value: port},
			corev1.EnvVar{Name: pp + "_ADDR", Value: ip},
		)
	}
	return out
}

// varName is a Service or port name as a variable name: upper case, '-' as '_'.
func varName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

func hasClusterIP(s *corev1.Service) bool {
	return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
}
