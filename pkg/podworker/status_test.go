package podworker

import (
	"errors"
	"fmt"
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

func TestBuildStatusReadyAndLastState(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}, {Name: "side", RestartPolicy: &always}},
		Containers:     []corev1.Container{{Name: "a"}},
	}}
	exited := func(name string, attempt, code int) sandbox.ContainerStatus {
		reason := sandbox.ReasonCompleted
		if code != 0 {
			reason = sandbox.ReasonError
		}
		return sandbox.ContainerStatus{ID: name + itoa(attempt), Name: name, State: sandbox.StateExited, ExitCode: code, Reason: reason, Attempt: attempt}
	}
	runningA := sandbox.ContainerStatus{ID: "a2", Name: "a", State: sandbox.StateRunning, Attempt: 2}
	reportedLast := func(id string) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: "a", ContainerID: "kubelet-lite://" + id, LastTerminationState: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, ContainerID: "kubelet-lite://a1"}}}}
	}
	initDone := map[string]sandbox.ContainerStatus{"init": exited("init", 0, 0), "a": runningA}
	cases := []struct {
		name string
		in   statusInput
		// reported is the pod's status of its app containers before.
		reported []corev1.ContainerStatus
		// want is "<state> ready=<bool>" for init, side and a.
		want []string
	}{
		{"init exited 0 is ready, a sidecar that exited is not",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": exited("init", 0, 0), "side": exited("side", 0, 0)}},
			nil, []string{"terminated:Completed:0 ready=true", "terminated:Completed:0 ready=false", "waiting:ContainerCreating ready=false"}},
		{"failed init is not ready",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": exited("init", 0, 3)}},
			nil, []string{"terminated:Error:3 ready=false", "waiting:PodInitializing ready=false", "waiting:PodInitializing ready=false"}},
		{"a restarted container shows the attempt before as its last state",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": exited("init", 0, 0), "a": runningA},
				Previous: map[string]sandbox.ContainerStatus{"a": exited("a", 1, 1)}},
			nil, []string{"terminated:Completed:0 ready=true", "waiting:ContainerCreating ready=false", "running|last:Error ready=true"}},
		{"a previous attempt that is not the one before is not shown",
			statusInput{Runtime: map[string]sandbox.ContainerStatus{"init": exited("init", 0, 0), "a": runningA},
				Previous: map[string]sandbox.ContainerStatus{"a": exited("a", 0, 1)}},
			nil, []string{"terminated:Completed:0 ready=true", "waiting:ContainerCreating ready=false", "running ready=true"}},
		{"after the agent restarted, the running attempt keeps the last state the pod's status gave it",
			statusInput{Runtime: initDone}, reportedLast("a2"),
			[]string{"terminated:Completed:0 ready=true", "waiting:ContainerCreating ready=false", "running|last:OOMKilled ready=true"}},
		{"a last state the pod's status gave another attempt is not kept",
			statusInput{Runtime: initDone}, reportedLast("a1"),
			[]string{"terminated:Completed:0 ready=true", "waiting:ContainerCreating ready=false", "running ready=true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := pod.DeepCopy()
			pod.Status.ContainerStatuses = tc.reported
			st := buildStatus(pod, tc.in)
			all := append(st.InitContainerStatuses, st.ContainerStatuses...)
			for i, cs := range all {
				got := stateOf(cs) + " ready=" + map[bool]string{true: "true", false: "false"}[cs.Ready]
				if got != tc.want[i] {
					t.Errorf("%s: %s, want %s", cs.Name, got, tc.want[i])
				}
				if cs.Started == nil || *cs.Started != (cs.State.Running != nil) {
					t.Errorf("%s: started = %v, want set, true only while running", cs.Name, cs.Started)
				}
			}
		})
	}
}

func TestRememberRestarts(t *testing.T) {
	a, b, c := &corev1.Container{Name: "a"}, &corev1.Container{Name: "b"}, &corev1.Container{Name: "c"}
	before := map[string]sandbox.ContainerStatus{
		"a": {ID: "a0", State: sandbox.StateExited, ExitCode: 1},
		"c": {ID: "c0", State: sandbox.StateRunning},
	}
	wk := &worker{previous: map[string]sandbox.ContainerStatus{"b": {ID: "b3"}}}
	// a restarts from an exited attempt and b has no attempt before (it
	// keeps what it had); c is not seen exited, so there is no exit to keep.
	wk.rememberRestarts(plan{Start: []start{{Container: a, Attempt: 1}, {Container: b}, {Container: c, Attempt: 1}}}, before)
	got := map[string]string{}
	for name, st := range wk.previous {
		got[name] = st.ID
	}
	want := map[string]string{"a": "a0", "b": "b3"}
	if len(got) != len(want) || got["a"] != want["a"] || got["b"] != want["b"] {
		t.Errorf("previous = %v, want %v", got, want)
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

func TestLastTerminationState(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := sandbox.ContainerStatus{ID: "u.a.0", Name: "a", Attempt: 0, State: sandbox.StateExited, ExitCode: 1, Reason: "Error", FinishedAt: at}
	second := sandbox.ContainerStatus{ID: "u.a.1", Name: "a", Attempt: 1, State: sandbox.StateRunning, StartedAt: at.Add(time.Second)}
	third := sandbox.ContainerStatus{ID: "u.a.2", Name: "a", Attempt: 2, State: sandbox.StateRunning, StartedAt: at.Add(time.Minute)}
	known := func(id string, exit int32) corev1.PodStatus {
		return corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "a", ContainerID: "kubelet-lite://" + id,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Reason: "Error"}},
		}}}
	}
	cases := []struct {
		name     string
		current  sandbox.ContainerStatus
		previous map[string]sandbox.ContainerStatus
		status   corev1.PodStatus // the pod's status as the apiserver has it
		want     string           // "none" or "exit <code> <container ID>"
	}{
		{"first instance has none", first, nil, corev1.PodStatus{}, "none"},
		{"restarted: the instance the worker replaced", second, map[string]sandbox.ContainerStatus{"a": first}, corev1.PodStatus{}, "exit 1 kubelet-lite://u.a.0"},
		{"after an agent restart: the pod's status for the same instance", second, nil, known("u.a.1", 7), "exit 7 "},
		{"the pod's status of an older instance is not taken", third, nil, known("u.a.1", 7), "none"},
		{"restarted and nothing known", second, nil, corev1.PodStatus{}, "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, Status: tc.status}
			st := buildStatus(pod, statusInput{Runtime: map[string]sandbox.ContainerStatus{"a": tc.current}, Previous: tc.previous})
			got := "none"
			if term := st.ContainerStatuses[0].LastTerminationState.Terminated; term != nil {
				got = fmt.Sprintf("exit %d %s", term.ExitCode, term.ContainerID)
			}
			if got != tc.want {
				t.Errorf("last termination state = %q, want %q", got, tc.want)
			}
		})
	}
}
