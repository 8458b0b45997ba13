package status

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var always = corev1.ContainerRestartPolicyAlways

func running(name string, ready bool) corev1.ContainerStatus {
	t := true
	return corev1.ContainerStatus{Name: name, Ready: ready, Started: &t, ContainerID: "kubelet-lite://" + name,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func exited(name string, code int32) corev1.ContainerStatus {
	f := false
	return corev1.ContainerStatus{Name: name, Started: &f, ContainerID: "kubelet-lite://" + name,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func waitingFor(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

// short renders conditions as "Type=Status/Reason: Message" lines.
func short(conds []corev1.PodCondition) string {
	var b strings.Builder
	for _, c := range conds {
		fmt.Fprintf(&b, "%s=%s", c.Type, c.Status)
		if c.Reason != "" {
			fmt.Fprintf(&b, "/%s", c.Reason)
		}
		if c.Message != "" {
			fmt.Fprintf(&b, ": %s", c.Message)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestConditions(t *testing.T) {
	app := corev1.Container{Name: "app"}
	side := corev1.Container{Name: "side", RestartPolicy: &always}
	initC := corev1.Container{Name: "init"}
	plain := corev1.PodSpec{Containers: []corev1.Container{app}}
	withInit := corev1.PodSpec{InitContainers: []corev1.Container{initC, side}, Containers: []corev1.Container{app}}
	gated := corev1.PodSpec{Containers: []corev1.Container{app}, ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}}
	cases := []struct {
		name   string
		spec   corev1.PodSpec
		others []corev1.PodCondition // conditions others set (readiness gates)
		st     corev1.PodStatus
		want   string
	}{
		{"nothing reported yet", plain, nil, corev1.PodStatus{Phase: corev1.PodPending}, `PodReadyToStartContainers=False
Initialized=True
ContainersReady=False/UnknownContainerStatuses
Ready=False/UnknownContainerStatuses
`},
		{"creating, sandbox has an IP", plain, nil, corev1.PodStatus{Phase: corev1.PodPending, PodIP: "10.1.0.5",
			ContainerStatuses: []corev1.ContainerStatus{waitingFor("app", "ContainerCreating")}}, `PodReadyToStartContainers=True
Initialized=True
ContainersReady=False/ContainersNotReady: containers with unready status: [app]
Ready=False/ContainersNotReady: containers with unready status: [app]
`},
		{"running and ready", plain, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{running("app", true)}}, `PodReadyToStartContainers=True
Initialized=True
ContainersReady=True
Ready=True
`},
		{"init container running", withInit, nil, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{running("init", false), waitingFor("side", "PodInitializing")},
			ContainerStatuses:     []corev1.ContainerStatus{waitingFor("app", "PodInitializing")}}, `PodReadyToStartContainers=True
Initialized=False/ContainersNotInitialized: containers with incomplete status: [init side]
ContainersReady=False/ContainersNotReady: containers with unready status: [side app]
Ready=False/ContainersNotReady: containers with unready status: [side app]
`},
		{"init done (exit 0, not marked ready), sidecar up, app not ready", withInit, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			InitContainerStatuses: []corev1.ContainerStatus{exited("init", 0), running("side", true)},
			ContainerStatuses:     []corev1.ContainerStatus{running("app", false)}}, `PodReadyToStartContainers=True
Initialized=True
ContainersReady=False/ContainersNotReady: containers with unready status: [app]
Ready=False/ContainersNotReady: containers with unready status: [app]
`},
		{"init failed", withInit, nil, corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{exited("init", 1)}}, `PodReadyToStartContainers=True
Initialized=False/ContainersNotInitialized: containers with unknown status: [side], containers with incomplete status: [init]
ContainersReady=False/ContainersNotReady: containers with unknown status: [side app]
Ready=False/ContainersNotReady: containers with unknown status: [side app]
`},
		{"sidecar restarting after the app started", withInit, nil, corev1.PodStatus{Phase: corev1.PodRunning,
			InitContainerStatuses: []corev1.ContainerStatus{exited("init", 0), exited("side", 2)},
			ContainerStatuses:     []corev1.ContainerStatus{running("app", true)}}, `PodReadyToStartContainers=True
Initialized=True
ContainersReady=False/ContainersNotReady: containers with unready status: [side]
Ready=False/ContainersNotReady: containers with unready status: [side]
`},
		{"succeeded", plain, nil, corev1.PodStatus{Phase: corev1.PodSucceeded,
			ContainerStatuses: []corev1.ContainerStatus{exited("app", 0)}}, `PodReadyToStartContainers=False
Initialized=True/PodCompleted
ContainersReady=False/PodCompleted
Ready=False/PodCompleted
`},
		{"failed", plain, nil, corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{exited("app", 1)}}, `PodReadyToStartContainers=False
Initialized=True
ContainersReady=False/PodFailed
Ready=False/PodFailed
`},
		{"readiness gates missing and false", gated, []corev1.PodCondition{{Type: "example.com/dns", Status: corev1.ConditionFalse}},
			corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("app", true)}}, `PodReadyToStartContainers=True
Initialized=True
ContainersReady=True
Ready=False/ReadinessGatesNotReady: corresponding condition of pod readiness gate "example.com/lb" does not exist., the status of pod readiness gate "example.com/dns" is not "True", but False
`},
		{"readiness gates true", gated, []corev1.PodCondition{{Type: "example.com/dns", Status: corev1.ConditionTrue}, {Type: "example.com/lb", Status: corev1.ConditionTrue}},
			corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("app", true)}}, `PodReadyToStartContainers=True
Initialized=True
ContainersReady=True
Ready=True
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tc.spec, Status: corev1.PodStatus{Conditions: tc.others}}
			if got := short(Conditions(pod, tc.st)); got != tc.want {
				t.Errorf("got\n%swant\n%s", got, tc.want)
			}
		})
	}
}

func TestConditionsKeepTransitionTimes(t *testing.T) {
	before := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Generation: 3},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: before},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: before},
			{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, LastTransitionTime: before},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: before},
		}},
	}
	st := corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("app", true)}}
	var got []string
	for _, c := range Conditions(pod, st) {
		got = append(got, fmt.Sprintf("%s %s gen=%d", c.Type, c.LastTransitionTime.UTC().Format(time.RFC3339), c.ObservedGeneration))
	}
	want := []string{
		"PodReadyToStartContainers 2026-01-02T03:04:05Z gen=3",
		"Initialized 2026-01-02T03:04:05Z gen=3",
		"ContainersReady 0001-01-01T00:00:00Z gen=3", // changed: the caller stamps it
		"Ready 0001-01-01T00:00:00Z gen=3",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
