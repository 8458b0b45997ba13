package podworker

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
)

// objects is a map-backed Objects: "namespace/name" keys.
type objects struct {
	configMaps map[string]map[string]string
	secrets    map[string]map[string]string
}

func (o objects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	d, ok := o.configMaps[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
	}
	return &corev1.ConfigMap{Data: d}, nil
}

func (o objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	d, ok := o.secrets[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	data := map[string][]byte{}
	for k, v := range d {
		data[k] = []byte(v)
	}
	return &corev1.Secret{Data: data}, nil
}

func TestContainerEnv(t *testing.T) {
	yes := true
	objs := objects{
		configMaps: map[string]map[string]string{"ns/cfg": {"MODE": "fast", "LEVEL": "3", "bad-key": "x", "has space": "y"}},
		secrets:    map[string]map[string]string{"ns/creds": {"PASSWORD": "s3cret"}},
	}
	cmKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		s := &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}
		if optional {
			s.ConfigMapKeyRef.Optional = &yes
		}
		return s
	}
	services := map[string]string{"DB_SERVICE_HOST": "10.0.0.2", "DB_SERVICE_PORT": "5432", "MODE": "from-service"}
	cases := []struct {
		name     string
		ctr      corev1.Container
		objs     Objects
		services map[string]string
		want     []string
		wantErr  string
	}{
		{"configMap and secret keys", corev1.Container{Env: []corev1.EnvVar{
			{Name: "M", ValueFrom: cmKey("cfg", "MODE", false)},
			{Name: "P", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "PASSWORD"}}},
		}}, objs, nil, []string{"M=fast", "P=s3cret"}, ""},
		{"optional missing key and configmap give no variable", corev1.Container{Env: []corev1.EnvVar{
			{Name: "A", ValueFrom: cmKey("cfg", "NOPE", true)},
			{Name: "B", ValueFrom: cmKey("absent", "X", true)},
			{Name: "C", Value: "c"},
		}}, objs, nil, []string{"C=c"}, ""},
		{"missing required key", corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("cfg", "NOPE", false)}}},
			objs, nil, nil, `container "app": env A: key NOPE not found in ConfigMap ns/cfg`},
		{"missing required configmap", corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("absent", "X", false)}}},
			objs, nil, nil, `container "app": env A: configmap ns/absent: configmaps "absent" not found`},
		{"envFrom with prefix skips invalid names; env overrides", corev1.Container{
			EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			Env:     []corev1.EnvVar{{Name: "CFG_MODE", Value: "slow-$(CFG_LEVEL)"}},
		}, objs, nil, []string{"CFG_LEVEL=3", "CFG_bad-key=x", "CFG_MODE=slow-3"}, ""},
		{"service variables last, sorted, under the container's own, and expandable", corev1.Container{
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			Env:     []corev1.EnvVar{{Name: "URL", Value: "db://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)/$(MODE)"}, {Name: "DB_SERVICE_PORT", Value: "1"}},
		}, objs, services, []string{"LEVEL=3", "MODE=fast", "bad-key=x", "URL=db://10.0.0.2:5432/fast", "DB_SERVICE_PORT=1", "DB_SERVICE_HOST=10.0.0.2"}, ""},
		{"no apiserver", corev1.Container{Name: "app", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}},
			nil, nil, nil, `container "app": envFrom: configMap and secret references need an apiserver`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
			got, err := containerEnv(context.Background(), pod, &tc.ctr, envSources{objs: tc.objs, services: tc.services})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("env = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFieldRefIPs(t *testing.T) {
	node := []string{"192.0.2.1", "2001:db8::1"}
	cases := []struct {
		name                  string
		pod                   corev1.Pod
		podIP, podIPs, hostIP string
	}{
		{"before the first status: the node's host IPs, no pod IP", corev1.Pod{}, "", "", "192.0.2.1"},
		{"host network before the first status: the node's for both", corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true}},
			"192.0.2.1", "192.0.2.1,2001:db8::1", "192.0.2.1"},
		{"the status's when it has them", corev1.Pod{Status: corev1.PodStatus{
			PodIP: "10.1.0.5", PodIPs: []corev1.PodIP{{IP: "10.1.0.5"}, {IP: "fd00::5"}}, HostIP: "198.51.100.7"}},
			"10.1.0.5", "10.1.0.5,fd00::5", "198.51.100.7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for path, want := range map[string]string{"status.podIP": tc.podIP, "status.podIPs": tc.podIPs, "status.hostIP": tc.hostIP} {
				if got, err := fieldRef(&tc.pod, path, node); err != nil || got != want {
					t.Errorf("%s = %q, %v; want %q", path, got, err, want)
				}
			}
		})
	}
}

// fixedServices is a fixed Services.
type fixedServices struct {
	list []*corev1.Service
	err  error
}

func (s fixedServices) List() ([]*corev1.Service, error) { return s.list, s.err }

func TestServiceVars(t *testing.T) {
	kube := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Port: 443}}}}
	db := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.2", Ports: []corev1.ServicePort{{Port: 5432}}}}
	synced := fixedServices{list: []*corev1.Service{kube, db}}
	unsynced := fixedServices{err: errors.New("services have not been read from the apiserver yet")}
	no := false
	cases := []struct {
		name     string
		svcs     Services
		source   string
		links    *bool
		wantHost map[string]string
		wantErr  bool
	}{
		{"no apiserver: none", nil, "file", nil, map[string]string{}, false},
		{"links on by default", synced, podsource.APISource, nil,
			map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "DB_SERVICE_HOST": "10.96.0.2"}, false},
		{"links off: the kubernetes Service's only", synced, podsource.APISource, &no,
			map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, false},
		{"not read yet: an API pod waits", unsynced, podsource.APISource, nil, nil, true},
		{"not read yet: a static pod goes without", unsynced, "file", nil, map[string]string{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wk := &worker{parent: &Workers{cfg: Config{Services: tc.svcs}}}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p",
				Annotations: map[string]string{podsource.ConfigSourceAnnotation: tc.source}}}
			pod.Spec.EnableServiceLinks = tc.links
			vars, err := wk.serviceVars(pod)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			hosts := map[string]string{}
			for k, v := range vars {
				if strings.HasSuffix(k, "_SERVICE_HOST") {
					hosts[k] = v
				}
			}
			if !reflect.DeepEqual(hosts, tc.wantHost) {
				t.Errorf("service hosts = %v, want %v", hosts, tc.wantHost)
			}
		})
	}
}
