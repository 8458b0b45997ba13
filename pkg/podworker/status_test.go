package podworker

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// stateOf renders a container state as "running", "terminated:<reason>:<code>"
// or "waiting:<reason>", with "|last:<reason>" for a last termination state.
func stateOf(cs corev1.ContainerStatus) string {
	var s string
	switch st := cs.State; {
	case st.Running != nil:
		s = "running"
	case st.Terminated != nil:
		s = "terminated:" + st.Terminated.Reason + ":" + itoa(int(st.Terminated.ExitCode))
	case st.Waiting != nil:
		s = "waiting:" + st.Waiting.Reason
	}
	if t := cs.LastTerminationState.Terminated; t != nil {
		s += "|last:" + t.Reason
	}
	return s
}

func TestBuildStatus(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "a"}, {Name: "b"}},
	}}
	runningA := sandbox.ContainerStatus{ID: "x", Name: "a", State: sandbox.StateRunning, StartedAt: at, Attempt: 1}
	exitedB := sandbox.ContainerStatus{ID: "y", Name: "b", State: sandbox.StateExited, ExitCode: 1, Reason: "Error", Attempt: 4}
	initDone := sandbox.ContainerStatus{ID: "z", Name: "init", State: sandbox.StateExited, ExitCode: 0, Reason: "Completed"}
	cases := []struct {
		name  string
		in    statusInput
		want  []string // init, a, b
		restB int32
	}{
		{"nothing started yet: init creating, apps initializing",
			statusInput{}, []string{"waiting:ContainerCreating", "waiting:PodInitializing", "waiting:PodInitializing"}, 0},
		{"init done, apps creating",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": initDone}},
			[]string{"terminated:Completed:0", "waiting:ContainerCreating", "waiting:ContainerCreating"}, 0},
		{"one running, one exited for good",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": initDone, "a": runningA, "b": exitedB}},
			[]string{"terminated:Completed:0", "running", "terminated:Error:1"}, 4},
		{"exited and backing off shows waiting with its last state",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": initDone, "a": runningA, "b": exitedB},
				Waiting: map[string]waiting{"b": {Reason: reasonCrashLoopBackOff}}},
			[]string{"terminated:Completed:0", "running", "waiting:CrashLoopBackOff|last:Error"}, 4},
		{"image missing",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": initDone}, Waiting: map[string]waiting{"a": {Reason: reasonErrImageNeverPull}}},
			[]string{"terminated:Completed:0", "waiting:ErrImageNeverPull", "waiting:ContainerCreating"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := buildStatus(pod, tc.in)
			got := []string{stateOf(st.InitContainerStatuses[0]), stateOf(st.ContainerStatuses[0]), stateOf(st.ContainerStatuses[1])}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("container %d: %s, want %s", i, got[i], tc.want[i])
				}
			}
			if r := st.ContainerStatuses[1].RestartCount; r != tc.restB {
				t.Errorf("b restartCount = %d, want %d", r, tc.restB)
			}
		})
	}
}

func TestPullFailedEvent(t *testing.T) {
	errGone := errors.New("image not found")
	tests := []struct {
		name        string
		policy      corev1.PullPolicy
		wantReason  string
		wantMessage string
	}{
		{"never", corev1.PullNever, "ErrImageNeverPull", `Container image "reg.example/app:1" is not present with pull policy of Never`},
		{"if not present", corev1.PullIfNotPresent, "Failed", `Failed to pull image "reg.example/app:1": image not found`},
		{"always", corev1.PullAlways, "Failed", `Failed to pull image "reg.example/app:1": image not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &corev1.Container{Name: "app", Image: "reg.example/app:1", ImagePullPolicy: tt.policy}
			reason, msg := pullFailedEvent(c, errGone)
			if reason != tt.wantReason || msg != tt.wantMessage {
				t.Errorf("pullFailedEvent = %q, %q; want %q, %q", reason, msg, tt.wantReason, tt.wantMessage)
			}
		})
	}
}
