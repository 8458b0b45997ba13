package podworker

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// imageWithPasswd writes a one-layer image whose /etc/passwd and /etc/group
// know root, app (1000) and the group "extra" that app is a member of.
func imageWithPasswd(t *testing.T, user string) Image {
	t.Helper()
	layer := t.TempDir()
	if err := os.MkdirAll(filepath.Join(layer, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(layer, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Image{
		Ref: "kubelet-lite.local/test:v1", Entrypoint: []string{"/entry"}, Cmd: []string{"serve", "--port=80"},
		Env: []string{"PATH=/bin", "MODE=image"}, WorkingDir: "/srv", User: user, Layers: []string{layer},
	}
}

func TestBuildProcess(t *testing.T) {
	int64p := func(v int64) *int64 { return &v }
	cases := []struct {
		name      string
		imageUser string
		ctr       corev1.Container
		podSC     *corev1.PodSecurityContext
		want      process
		wantErr   string
	}{{
		name: "image defaults",
		ctr:  corev1.Container{Name: "c"},
		want: process{Args: []string{"/entry", "serve", "--port=80"}, Env: []string{"PATH=/bin", "MODE=image"}, WorkingDir: "/srv"},
	}, {
		name: "command replaces entrypoint and cmd",
		ctr:  corev1.Container{Name: "c", Command: []string{"/bin/sh", "-c"}, Args: []string{"echo $(MSG)"}, Env: []corev1.EnvVar{{Name: "MSG", Value: "hi"}}},
		want: process{Args: []string{"/bin/sh", "-c", "echo hi"}, Env: []string{"PATH=/bin", "MODE=image", "MSG=hi"}, WorkingDir: "/srv"},
	}, {
		name: "args alone keep the entrypoint",
		ctr:  corev1.Container{Name: "c", Args: []string{"check"}},
		want: process{Args: []string{"/entry", "check"}, Env: []string{"PATH=/bin", "MODE=image"}, WorkingDir: "/srv"},
	}, {
		name: "container env overrides the image's and refers to earlier vars",
		ctr: corev1.Container{Name: "c", WorkingDir: "/work", Env: []corev1.EnvVar{
			{Name: "MODE", Value: "pod"}, {Name: "BOTH", Value: "$(MODE)-$(PATH)"},
		}},
		want: process{Args: []string{"/entry", "serve", "--port=80"}, Env: []string{"PATH=/bin", "MODE=pod", "BOTH=pod-$(PATH)"}, WorkingDir: "/work"},
	}, {
		name:      "image user by name gets its groups",
		imageUser: "app",
		ctr:       corev1.Container{Name: "c"},
		want:      process{Args: []string{"/entry", "serve", "--port=80"}, Env: []string{"PATH=/bin", "MODE=image"}, WorkingDir: "/srv", UID: 1000, GID: 1000, Groups: []uint32{2000}},
	}, {
		name:      "runAsUser and runAsGroup beat the image user; supplemental groups added",
		imageUser: "app",
		ctr:       corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{RunAsUser: int64p(4242)}},
		podSC:     &corev1.PodSecurityContext{RunAsUser: int64p(1), RunAsGroup: int64p(3000), SupplementalGroups: []int64{5000}},
		want:      process{Args: []string{"/entry", "serve", "--port=80"}, Env: []string{"PATH=/bin", "MODE=image"}, WorkingDir: "/srv", UID: 4242, GID: 3000, Groups: []uint32{5000}},
	}, {
		name: "fieldRef and resourceFieldRef",
		ctr: corev1.Container{Name: "c", Command: []string{"/x"},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("250m")}},
			Env: []corev1.EnvVar{
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			}},
		want: process{Args: []string{"/x"}, Env: []string{"PATH=/bin", "MODE=image", "POD=web", "MEM_MI=64", "CPU=1"}, WorkingDir: "/srv"},
	}, {
		name:      "unknown user",
		ctr:       corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{}},
		podSC:     nil,
		imageUser: "nobody-here",
		wantErr:   `container "c": resolve user "nobody-here"`,
	}, {
		name:    "configMap ref without an apiserver",
		ctr:     corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "k"}}}}},
		wantErr: `container "c": env X: configMap and secret references need an apiserver`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}
			pod.Spec.SecurityContext = tc.podSC
			pod.Spec.Containers = []corev1.Container{tc.ctr}
			env, err := containerEnv(context.Background(), pod, &tc.ctr, envSources{})
			var got process
			if err == nil {
				got, err = buildProcess(pod, &tc.ctr, imageWithPasswd(t, tc.imageUser), env)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBuildProcessNoCommand(t *testing.T) {
	pod := &corev1.Pod{}
	_, err := buildProcess(pod, &corev1.Container{Name: "c"}, Image{Ref: "x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no command") {
		t.Fatalf("err = %v, want a no command error", err)
	}
}

func TestResolveUserSecurity(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	yes, strict := true, corev1.SupplementalGroupsPolicyStrict
	tests := []struct {
		name       string
		imageUser  string
		podSC      *corev1.PodSecurityContext
		sc         *corev1.SecurityContext
		wantUID    uint32
		wantGID    uint32
		wantGroups []uint32
		wantErr    string
	}{
		{name: "runAsNonRoot with a root image", podSC: &corev1.PodSecurityContext{RunAsNonRoot: &yes},
			wantErr: `container has runAsNonRoot and image will run as root (pod: "web_default(u1)", container: c)`},
		{name: "runAsNonRoot with runAsUser 0", sc: &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: i64(0)},
			wantErr: "container's runAsUser breaks non-root policy"},
		{name: "runAsNonRoot with an image user by name", imageUser: "app", podSC: &corev1.PodSecurityContext{RunAsNonRoot: &yes},
			wantUID: 1000, wantGID: 1000, wantGroups: []uint32{2000}},
		{name: "runAsNonRoot with an image user root by name", imageUser: "root", sc: &corev1.SecurityContext{RunAsNonRoot: &yes},
			wantErr: "image will run as root"},
		{name: "runAsNonRoot satisfied by runAsUser", podSC: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: i64(1000)},
			wantUID: 1000, wantGID: 1000, wantGroups: []uint32{2000}},
		{name: "fsGroup and supplementalGroups join the image's groups",
			podSC:   &corev1.PodSecurityContext{RunAsUser: i64(1000), FSGroup: i64(3000), SupplementalGroups: []int64{4000, 1000}},
			wantUID: 1000, wantGID: 1000, wantGroups: []uint32{2000, 3000, 4000}},
		{name: "Strict leaves out the image's groups",
			podSC:   &corev1.PodSecurityContext{RunAsUser: i64(1000), FSGroup: i64(3000), SupplementalGroupsPolicy: &strict},
			wantUID: 1000, wantGID: 1000, wantGroups: []uint32{3000}},
		{name: "container runAsGroup beats the pod's", podSC: &corev1.PodSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(5)},
			sc: &corev1.SecurityContext{RunAsGroup: i64(6)}, wantUID: 1000, wantGID: 6, wantGroups: []uint32{2000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
			pod.Spec.SecurityContext = tc.podSC
			c := &corev1.Container{Name: "c", SecurityContext: tc.sc}
			var p process
			err := resolveUser(pod, c, imageWithPasswd(t, tc.imageUser), &p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.UID != tc.wantUID || p.GID != tc.wantGID || !reflect.DeepEqual(p.Groups, tc.wantGroups) {
				t.Errorf("got %d:%d %v, want %d:%d %v", p.UID, p.GID, p.Groups, tc.wantUID, tc.wantGID, tc.wantGroups)
			}
		})
	}
}
