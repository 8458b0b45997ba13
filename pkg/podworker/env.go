package podworker

import (
	"context"
	"errors"
	"fmt"
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

// containerEnv evaluates a container's environment as KEY=VALUE, as the
// kubelet does: envFrom sources first (keys that are not valid variable
// names skipped), then env in order, each value able to refer to the
// variables before it with $(NAME); a resource limit left unset is the
// node's allocatable. objs may be nil when there is no apiserver.
func containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, objs Objects, allocatable corev1.ResourceList) ([]string, error) {
	var out []string
	seen := map[string]string{}
	set := func(k, v string) {
		if _, ok := seen[k]; ok {
			for i := range out {
				if strings.HasPrefix(out[i], k+"=") {
					out = append(out[:i], out[i+1:]...)
					break
				}
			}
		}
		seen[k] = v
		out = append(out, k+"="+v)
	}
	for _, from := range c.EnvFrom {
		data, err := envFromSource(ctx, pod.Namespace, from, objs)
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
		v := expansion.Expand(e.Value, seen)
		if e.ValueFrom != nil {
			var err error
			var ok bool
			if v, ok, err = envValueFrom(ctx, pod, c, e.ValueFrom, objs, allocatable); err != nil {
				return nil, fmt.Errorf("container %q: env %s: %w", c.Name, e.Name, err)
			}
			if !ok {
				continue // an optional key that is missing: no variable
			}
		}
		set(e.Name, v)
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
func envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src *corev1.EnvVarSource, objs Objects, allocatable corev1.ResourceList) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := fieldRef(pod, src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		ref := src.ResourceFieldRef.DeepCopy()
		if ref.ContainerName == "" {
			ref.ContainerName = c.Name
		}
		v, err := volume.ResourceValue(pod, ref, allocatable)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
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
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
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

// fieldRef answers the downward API fields env can name.
func fieldRef(pod *corev1.Pod, path string) (string, error) {
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
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	}
	if k, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(k, "']")], nil
	}
	if k, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(k, "']")], nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported", path)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
