package volume

import (
	"context"
	"errors"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// defaultMode is the mode of API data files when the spec gives none (the
// API server defaults defaultMode to it; static pods are not defaulted).
const defaultMode int32 = 0o644

// errNoGetter is returned for API data volumes when the node has no API
// server (standalone mode).
var errNoGetter = errors.New("needs the API server, and the node runs standalone")

func modeOf(item, def *int32) os.FileMode {
	switch {
	case item != nil:
		return os.FileMode(*item) & os.ModePerm
	case def != nil:
		return os.FileMode(*def) & os.ModePerm
	}
	return os.FileMode(defaultMode)
}

// keyData maps the keys of a ConfigMap or Secret to their content.
type keyData map[string][]byte

// project adds data's keys (all of them, or items) to pl. A missing item
// key is skipped when optional, else an error; what names the object.
func project(pl payload, data keyData, items []corev1.KeyToPath, def *int32, optional bool, what string) error {
	if len(items) == 0 {
		for k, v := range data {
			pl[k] = file{data: v, mode: modeOf(nil, def)}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s has no key %q", what, it.Key)
		}
		pl[it.Path] = file{data: v, mode: modeOf(it.Mode, def)}
	}
	return nil
}

// configMapData fetches a ConfigMap's Data and BinaryData; found is false
// when it does not exist.
func (m *Manager) configMapData(ctx context.Context, ns, name string) (keyData, bool, error) {
	if m.cfg.Getter == nil {
		return nil, false, fmt.Errorf("configMap %q: %w", name, errNoGetter)
	}
	cm, err := m.cfg.Getter.ConfigMap(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get configMap %q: %w", name, err)
	}
	d := keyData{}
	for k, v := range cm.Data {
		d[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		d[k] = v
	}
	return d, true, nil
}

// secretData fetches a Secret's Data; found is false when it does not exist.
func (m *Manager) secretData(ctx context.Context, ns, name string) (keyData, bool, error) {
	if m.cfg.Getter == nil {
		return nil, false, fmt.Errorf("secret %q: %w", name, errNoGetter)
	}
	s, err := m.cfg.Getter.Secret(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get secret %q: %w", name, err)
	}
	return keyData(s.Data), true, nil
}

func isOptional(b *bool) bool { return b != nil && *b }

func (m *Manager) configMapPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ConfigMapVolumeSource) (payload, error) {
	data, found, err := m.configMapData(ctx, pod.Namespace, src.Name)
	if err != nil {
		return nil, err
	}
	pl := payload{}
	if !found {
		if isOptional(src.Optional) {
			return pl, nil
		}
		return nil, fmt.Errorf("configMap %q not found", src.Name)
	}
	return pl, project(pl, data, src.Items, src.DefaultMode, isOptional(src.Optional), fmt.Sprintf("configMap %q", src.Name))
}

func (m *Manager) secretPayload(ctx context.Context, pod *corev1.Pod, src *corev1.SecretVolumeSource) (payload, error) {
	data, found, err := m.secretData(ctx, pod.Namespace, src.SecretName)
	if err != nil {
		return nil, err
	}
	pl := payload{}
	if !found {
		if isOptional(src.Optional) {
			return pl, nil
		}
		return nil, fmt.Errorf("secret %q not found", src.SecretName)
	}
	return pl, project(pl, data, src.Items, src.DefaultMode, isOptional(src.Optional), fmt.Sprintf("secret %q", src.SecretName))
}

// downwardAPIFiles adds the downward API items to pl.
func (m *Manager) downwardAPIFiles(pl payload, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def *int32) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = ResourceValue(pod, it.ResourceFieldRef, m.cfg.Allocatable)
		default:
			err = errors.New("neither fieldRef nor resourceFieldRef is set")
		}
		if err != nil {
			return fmt.Errorf("downward API item %q: %w", it.Path, err)
		}
		pl[it.Path] = file{data: []byte(v), mode: modeOf(it.Mode, def)}
	}
	return nil
}

// projectedPayload merges the sources of a projected volume; a later
// source wins a path. Service-account tokens come from st's token cache.
func (m *Manager) projectedPayload(ctx context.Context, st *podState, volName string, src *corev1.ProjectedVolumeSource) (payload, error) {
	pod := st.pod
	pl := payload{}
	for i, s := range src.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			err = m.projectKeys(ctx, pl, pod, s.ConfigMap.Name, false, s.ConfigMap.Items, src.DefaultMode, s.ConfigMap.Optional)
		case s.Secret != nil:
			err = m.projectKeys(ctx, pl, pod, s.Secret.Name, true, s.Secret.Items, src.DefaultMode, s.Secret.Optional)
		case s.DownwardAPI != nil:
			err = m.downwardAPIFiles(pl, pod, s.DownwardAPI.Items, src.DefaultMode)
		case s.ServiceAccountToken != nil:
			var tok string
			tok, err = m.token(ctx, st, tokenKey{volume: volName, source: i}, s.ServiceAccountToken)
			if err == nil {
				if err = validatePath(s.ServiceAccountToken.Path); err == nil {
					pl[s.ServiceAccountToken.Path] = tokenFile(pod, tok, src.DefaultMode)
				}
			}
		case s.ClusterTrustBundle != nil:
			err = fmt.Errorf("clusterTrustBundle sources: %w", ErrUnsupported)
		case s.PodCertificate != nil:
			err = fmt.Errorf("podCertificate sources: %w", ErrUnsupported)
		default:
			err = fmt.Errorf("empty source: %w", ErrUnsupported)
		}
		if err != nil {
			return nil, fmt.Errorf("source %d: %w", i, err)
		}
	}
	return pl, nil
}

// tokenFile is a service-account token file as upstream writes it: with the
// volume's mode, except that when every container runs as the same user the
// file is that user's and 0600, and with an fsGroup it is 0600 too (0640
// once writeAtomic adds the group's read), so that only the pod's user (and
// group) can read it.
func tokenFile(pod *corev1.Pod, tok string, def *int32) file {
	f := file{data: []byte(tok), mode: modeOf(nil, def), uid: fsUser(pod)}
	if f.uid != nil || fsGroup(pod) != nil {
		f.mode = 0o600
	}
	return f
}

// fsUser is the user every container of pod runs as (its runAsUser, else
// the pod's), or nil when one sets none or two differ.
func fsUser(pod *corev1.Pod) *int64 {
	var podUser *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		podUser = sc.RunAsUser
	}
	var user *int64
	same := func(sc *corev1.SecurityContext) bool {
		u := podUser
		if sc != nil && sc.RunAsUser != nil {
			u = sc.RunAsUser
		}
		if u == nil || (user != nil && *user != *u) {
			return false
		}
		user = u
		return true
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if !same(c.SecurityContext) {
			return nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if !same(c.SecurityContext) {
			return nil
		}
	}
	return user
}

// projectKeys adds a configMap or secret source of a projected volume. The
// ConfigMap kube-root-ca.crt falls back to Config.RootCAFile while the
// controller-manager has not published it yet.
func (m *Manager) projectKeys(ctx context.Context, pl payload, pod *corev1.Pod, name string, secret bool, items []corev1.KeyToPath, def *int32, optional *bool) error {
	what := fmt.Sprintf("configMap %q", name)
	get := m.configMapData
	if secret {
		what, get = fmt.Sprintf("secret %q", name), m.secretData
	}
	data, found, err := get(ctx, pod.Namespace, name)
	if err != nil {
		return err
	}
	if !found && !secret && name == rootCAConfigMap && m.cfg.RootCAFile != "" {
		ca, err := os.ReadFile(m.cfg.RootCAFile)
		if err != nil {
			return fmt.Errorf("read root CA: %w", err)
		}
		data, found = keyData{"ca.crt": ca}, true
	}
	if !found {
		if isOptional(optional) {
			return nil
		}
		return fmt.Errorf("%s not found", what)
	}
	return project(pl, data, items, def, isOptional(optional), what)
}

// rootCAConfigMap is the ConfigMap the controller-manager publishes in
// every namespace with the cluster's CA, which service-account admission
// projects as ca.crt.
const rootCAConfigMap = "kube-root-ca.crt"
