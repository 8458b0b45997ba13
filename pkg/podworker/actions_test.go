package podworker

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestDecide(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := func(policy corev1.RestartPolicy, inits []string, apps ...string) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: policy}}
		for _, n := range inits {
			c := corev1.Container{Name: n}
			if n == "sidecar" {
				c.RestartPolicy = &always
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		}
		for _, n := range apps {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n})
		}
		return p
	}
	finished := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := observed{State: running}
	ok := observed{State: exited, ExitCode: 0, Attempt: 2, FinishedAt: finished}
	bad := observed{State: exited, ExitCode: 1, Attempt: 2, FinishedAt: finished}
	noWait := func(string, time.Time) time.Duration { return 0 }
	waits := func(string, time.Time) time.Duration { return 20 * time.Second }

	type want struct {
		starts  []string // name@attempt, "i:" prefix for init
		backOff map[string]time.Duration
		phase   corev1.PodPhase
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		obs  map[string]observed
		wait backOff
		want want
	}{
		{"new pod starts all app containers", pod(corev1.RestartPolicyAlways, nil, "a", "b"), nil, noWait,
			want{[]string{"a@0", "b@0"}, nil, corev1.PodPending}},
		{"first init container alone", pod(corev1.RestartPolicyAlways, []string{"i1", "i2"}, "a"), nil, noWait,
			want{[]string{"i:i1@0"}, nil, corev1.PodPending}},
		{"running init container blocks the rest", pod(corev1.RestartPolicyAlways, []string{"i1", "i2"}, "a"), map[string]observed{"i1": run}, noWait,
			want{nil, nil, corev1.PodPending}},
		{"next init container after success", pod(corev1.RestartPolicyAlways, []string{"i1", "i2"}, "a"), map[string]observed{"i1": ok}, noWait,
			want{[]string{"i:i2@0"}, nil, corev1.PodPending}},
		{"apps after all init containers", pod(corev1.RestartPolicyAlways, []string{"i1"}, "a"), map[string]observed{"i1": ok}, noWait,
			want{[]string{"a@0"}, nil, corev1.PodPending}},
		{"failed init container restarts", pod(corev1.RestartPolicyOnFailure, []string{"i1"}, "a"), map[string]observed{"i1": bad}, noWait,
			want{[]string{"i:i1@3"}, nil, corev1.PodPending}},
		{"failed init container with Never fails the pod", pod(corev1.RestartPolicyNever, []string{"i1"}, "a"), map[string]observed{"i1": bad}, noWait,
			want{nil, nil, corev1.PodFailed}},
		{"sidecar starts with the next init container", pod(corev1.RestartPolicyAlways, []string{"sidecar", "i1"}, "a"), nil, noWait,
			want{[]string{"i:sidecar@0", "i:i1@0"}, nil, corev1.PodPending}},
		{"exited sidecar restarts even after success", pod(corev1.RestartPolicyNever, []string{"sidecar"}, "a"), map[string]observed{"sidecar": ok, "a": run}, noWait,
			want{[]string{"i:sidecar@3"}, nil, corev1.PodRunning}},
		{"running app is left alone", pod(corev1.RestartPolicyAlways, nil, "a"), map[string]observed{"a": run}, noWait,
			want{nil, nil, corev1.PodRunning}},
		{"Always restarts a completed app", pod(corev1.RestartPolicyAlways, nil, "a"), map[string]observed{"a": ok}, noWait,
			want{[]string{"a@3"}, nil, corev1.PodRunning}},
		{"OnFailure leaves a completed app", pod(corev1.RestartPolicyOnFailure, nil, "a"), map[string]observed{"a": ok}, noWait,
			want{nil, nil, corev1.PodSucceeded}},
		{"OnFailure restarts a failed app", pod(corev1.RestartPolicyOnFailure, nil, "a"), map[string]observed{"a": bad}, noWait,
			want{[]string{"a@3"}, nil, corev1.PodRunning}},
		{"Never: one failed app fails the pod", pod(corev1.RestartPolicyNever, nil, "a", "b"), map[string]observed{"a": ok, "b": bad}, noWait,
			want{nil, nil, corev1.PodFailed}},
		{"Never: still running keeps it Running", pod(corev1.RestartPolicyNever, nil, "a", "b"), map[string]observed{"a": bad, "b": run}, noWait,
			want{nil, nil, corev1.PodRunning}},
		{"crash loop waits", pod(corev1.RestartPolicyAlways, nil, "a"), map[string]observed{"a": bad}, waits,
			want{nil, map[string]time.Duration{"a": 20 * time.Second}, corev1.PodRunning}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.pod, tc.obs, tc.wait)
			var starts []string
			for _, s := range got.Start {
				n := s.Container.Name
				if s.Init {
					n = "i:" + n
				}
				starts = append(starts, n+"@"+itoa(s.Attempt))
			}
			if tc.want.backOff == nil {
				tc.want.backOff = map[string]time.Duration{}
			}
			if !reflect.DeepEqual(starts, tc.want.starts) || !reflect.DeepEqual(got.BackOff, tc.want.backOff) || got.Phase != tc.want.phase {
				t.Errorf("got starts %v backOff %v phase %s\nwant starts %v backOff %v phase %s",
					starts, got.BackOff, got.Phase, tc.want.starts, tc.want.backOff, tc.want.phase)
			}
		})
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
