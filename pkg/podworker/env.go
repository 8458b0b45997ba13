package podworker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubelet-lite/kubelet-lite/pkg/expansion"
	"github.com/kubelet-lite/kubelet-lite/pkg/volume"
)

// Objects reads the ConfigMaps and Secrets that env refers to. Its errors
// for a missing object satisfy apierrors.IsNotFound.
type Objects interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// errNoAPIServer is what env that needs the apiserver gets without one.
var errNoAPIServer = errors.New("configMap and secret references need an apiserver")

// envSources is what a container's env is evaluated from besides its pod.
type envSources struct {
	// objs reads ConfigMaps and Secrets; nil without an apiserver.
	objs Objects
	// allocatable is the node's; it stands in for a limit left unset.
	allocatable corev1.ResourceList
	// services are the service-link variables (serviceenv.ForPod).
	services map[string]string
	// nodeIPs are the node's addresses: the host IPs of every pod and the
	// pod IPs of one on the host's network while its status has none.
	nodeIPs []string
}

// containerEnv evaluates a container's environment as KEY=VALUE, as the
// kubelet does: envFrom sources first (keys that are not valid variable
// names skipped), then env in order, each value able to refer to the
// variables before it and to the service variables with $(NAME), then the
// service variables the container does not set itself, sorted; a resource
// limit left unset is the node's allocatable.
func containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src envSources) ([]string, error) {
	var out []string
	seen := map[string]string{}
	// vars is what $(NAME) sees: the service variables under the container's.
	vars := maps.Clone(src.services)
	if vars == nil {
		vars = map[string]string{}
	}
	set := func(k, v string) {
		if _, ok := seen[k]; ok {
			for i := range out {
				if strings.HasPrefix(out[i], k+"=") {
					out = append(out[:i], out[i+1:]...)
					break
				}
			}
		}
		seen[k], vars[k] = v, v
		out = append(out, k+"="+v)
	}
	for _, from := range c.EnvFrom {
		data, err := envFromSource(ctx, pod.Namespace, from, src.objs)
		if err != nil {
			return nil, fmt.Errorf("container %q: envFrom: %w", c.Name, err)
		}
		for _, k := range sortedKeys(data) {
			if len(validation.IsEnvVarName(from.Prefix+k)) == 0 {
				set(from.Prefix+k, data[k])
			}
		}
	}
	for _, e := range c.Env {
		v := expansion.Expand(e.Value, vars)
		if e.ValueFrom != nil {
			var err error
			var ok bool
			if v, ok, err = envValueFrom(ctx, pod, c, e.ValueFrom, src); err != nil {
				return nil, fmt.Errorf("container %q: env %s: %w", c.Name, e.Name, err)
			}
			if !ok {
				continue // an optional key that is missing: no variable
			}
		}
		set(e.Name, v)
	}
	for _, k := range sortedKeys(src.services) {
		if _, ok := seen[k]; !ok {
			out = append(out, k+"="+src.services[k])
		}
	}
	return out, nil
}

// envFromSource returns the data of a ConfigMap or Secret named by envFrom;
// a missing optional one gives none.
func envFromSource(ctx context.Context, ns string, from corev1.EnvFromSource, objs Objects) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := getConfigMap(ctx, objs, ns, from.ConfigMapRef.Name)
		if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := getSecret(ctx, objs, ns, from.SecretRef.Name)
		if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, nil
}

// envValueFrom resolves one valueFrom; ok is false for a missing optional key.
func envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, src envSources) (string, bool, error) {
	objs := src.objs
	switch {
	case from.FieldRef != nil:
		v, err := fieldRef(pod, from.FieldRef.FieldPath, src.nodeIPs)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		ref := from.ResourceFieldRef.DeepCopy()
		if ref.ContainerName == "" {
			ref.ContainerName = c.Name
		}
		v, err := volume.ResourceValue(pod, ref, src.allocatable)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := getConfigMap(ctx, objs, pod.Namespace, ref.Name)
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("key %s not found in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, ok, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := getSecret(ctx, objs, pod.Namespace, ref.Name)
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("key %s not found in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), ok, nil
	}
	return "", false, errors.New("valueFrom names no source")
}

func getConfigMap(ctx context.Context, objs Objects, ns, name string) (*corev1.ConfigMap, error) {
	if objs == nil {
		return nil, errNoAPIServer
	}
	cm, err := objs.ConfigMap(ctx, ns, name)
	if err != nil {
		return nil, fmt.Errorf("configmap %s/%s: %w", ns, name, err)
	}
	return cm, nil
}

func getSecret(ctx context.Context, objs Objects, ns, name string) (*corev1.Secret, error) {
	if objs == nil {
		return nil, errNoAPIServer
	}
	s, err := objs.Secret(ctx, ns, name)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, name, err)
	}
	return s, nil
}

// fieldRef answers the downward API fields env can name. The IPs are
// those of the pod's status and, while it has none yet (a container's env
// is made before the first status is sent), the node's: its host IPs, and
// its pod IPs when it is on the host's network, as the status will say.
func fieldRef(pod *corev1.Pod, path string, nodeIPs []string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return first(podIPs(pod, nodeIPs)), nil
	case "status.podIPs":
		return strings.Join(podIPs(pod, nodeIPs), ","), nil
	case "status.hostIP":
		return first(hostIPs(pod, nodeIPs)), nil
	case "status.hostIPs":
		return strings.Join(hostIPs(pod, nodeIPs), ","), nil
	}
	if k, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(k, "']")], nil
	}
	if k, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(k, "']")], nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported", path)
}

func hostIPs(pod *corev1.Pod, nodeIPs []string) []string {
	var ips []string
	for _, ip := range pod.Status.HostIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.HostIP != "" {
		ips = []string{pod.Status.HostIP}
	}
	if len(ips) == 0 {
		ips = nodeIPs
	}
	return ips
}

func podIPs(pod *corev1.Pod, nodeIPs []string) []string {
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []string{pod.Status.PodIP}
	}
	if len(ips) == 0 && pod.Spec.HostNetwork {
		ips = hostIPs(pod, nodeIPs)
	}
	return ips
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
