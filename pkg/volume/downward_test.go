package volume

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func downwardPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "prod", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "say \"hi\"\nbye"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "c",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}},
		},
	}
}

func TestFieldValue(t *testing.T) {
	tests := []struct {
		path, want, wantErr string
	}{
		{path: "metadata.name", want: "web"},
		{path: "metadata.namespace", want: "prod"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: `note="say \"hi\"\nbye"`},
		{path: "metadata.labels['tier']", want: "front"},
		{path: "metadata.labels['none']", want: ""},
		{path: "metadata.annotations['note']", want: "say \"hi\"\nbye"},
		{path: "status.podIP", wantErr: "unsupported fieldPath"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := fieldValue(downwardPod(), tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("fieldValue(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
			}
		})
	}
}

func TestResourceValue(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi"), corev1.ResourceCPU: resource.MustParse("2")}
	tests := []struct {
		name, resource, divisor, want, wantErr string
		container                              string
	}{
		{name: "cpu limit rounds up to cores", resource: "limits.cpu", want: "2"},
		{name: "cpu limit in millicores", resource: "limits.cpu", divisor: "1m", want: "1500"},
		{name: "cpu request", resource: "requests.cpu", divisor: "1m", want: "250"},
		{name: "memory request in Mi", resource: "requests.memory", divisor: "1Mi", want: "64"},
		{name: "memory limit defaults to allocatable", resource: "limits.memory", divisor: "1Mi", want: "2048"},
		{name: "missing request is 0", resource: "requests.ephemeral-storage", want: "0"},
		{name: "unknown resource", resource: "limits.gpu", wantErr: "unsupported resource"},
		{name: "bad form", resource: "cpu", wantErr: "unsupported resource"},
		{name: "unknown container", resource: "limits.cpu", container: "x", wantErr: `no container "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := &corev1.ResourceFieldSelector{ContainerName: "c", Resource: tt.resource}
			if tt.container != "" {
				ref.ContainerName = tt.container
			}
			if tt.divisor != "" {
				ref.Divisor = resource.MustParse(tt.divisor)
			}
			got, err := ResourceValue(downwardPod(), ref, alloc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ResourceValue(%s) = %q, %v; want %q", tt.resource, got, err, tt.want)
			}
		})
	}
}

func TestRefreshTime(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		exp     time.Time
		seconds int64
		want    time.Time
	}{
		{name: "80% of an hour", exp: issued.Add(time.Hour), seconds: 3600, want: issued.Add(48 * time.Minute)},
		{name: "granted shorter than asked", exp: issued.Add(10 * time.Minute), seconds: 3600, want: issued.Add(8 * time.Minute)},
		{name: "extended to a year: asked lifetime counts", exp: issued.Add(365 * 24 * time.Hour), seconds: 3607, want: issued.Add(3607 * 800 * time.Millisecond)},
		{name: "long tokens renew after a day", exp: issued.Add(72 * time.Hour), seconds: 72 * 3600, want: issued.Add(24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refreshTime(issued, tt.exp, tt.seconds); !got.Equal(tt.want) {
				t.Errorf("refreshTime = %v, want %v", got, tt.want)
			}
		})
	}
}
