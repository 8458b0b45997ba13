package podworker

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// Waiting reasons, as the upstream kubelet reports them.
const (
	reasonContainerCreating = "ContainerCreating"
	reasonPodInitializing   = "PodInitializing"
	reasonCrashLoopBackOff  = "CrashLoopBackOff"
	reasonErrImagePull      = "ErrImagePull"
	reasonErrImageNeverPull = "ErrImageNeverPull"
	reasonConfigError       = "CreateContainerConfigError"
	reasonCreateError       = "CreateContainerError"
	// reasonInvalidSpec is the pod's reason when the node cannot run it at all.
	reasonInvalidSpec = "InvalidPodSpec"
)

// waiting says why a container is not running.
type waiting struct{ Reason, Message string }

// statusInput is what one sync learned about its pod.
type statusInput struct {
	QOS       corev1.PodQOSClass
	Phase     corev1.PodPhase
	StartTime time.Time
	// Runtime holds the runtime's view of each container that exists.
	Runtime map[string]sandbox.ContainerStatus
	// Waiting holds the containers the sync could not start, and why.
	Waiting map[string]waiting
	// Previous holds, per container, the exited instance the worker last
	// replaced with a new one: the last state of a restarted container.
	Previous map[string]sandbox.ContainerStatus
	// Ready and Started, when set, give the probes' verdicts for running
	// containers; without them a running container is ready and started.
	Ready, Started func(container string) bool
}

// buildStatus renders a sync's outcome as the upstream PodStatus: one status
// per container (init containers in InitContainerStatuses), an exited
// container that waits to restart shown as waiting with its last state.
func buildStatus(pod *corev1.Pod, in statusInput) corev1.PodStatus {
	st := corev1.PodStatus{Phase: in.Phase, QOSClass: in.QOS}
	if !in.StartTime.IsZero() {
		t := metav1.NewTime(in.StartTime)
		st.StartTime = &t
	}
	defaultWait := reasonContainerCreating
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(c, in, defaultWait))
		if rs, ok := in.Runtime[c.Name]; !ok || rs.State != sandbox.StateExited || rs.ExitCode != 0 {
			defaultWait = reasonPodInitializing
		}
	}
	for _, c := range pod.Spec.Containers {
		cs := containerStatus(c, in, defaultWait)
		if cs.LastTerminationState.Terminated == nil {
			cs.LastTerminationState.Terminated = lastTerminated(pod, c.Name, cs, in.Previous)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	return st
}

// lastTerminated is the last state of a restarted container (restart count
// above 0): the instance before the current one, as the worker saw it exit,
// else as the pod's status already tells for the same current instance
// (kept across an agent restart).
func lastTerminated(pod *corev1.Pod, name string, cs corev1.ContainerStatus, previous map[string]sandbox.ContainerStatus) *corev1.ContainerStateTerminated {
	if cs.RestartCount == 0 {
		return nil
	}
	if prev, ok := previous[name]; ok && int32(prev.Attempt) < cs.RestartCount {
		return terminated(prev)
	}
	for _, known := range pod.Status.ContainerStatuses {
		if known.Name == name && known.ContainerID == cs.ContainerID && known.LastTerminationState.Terminated != nil {
			return known.LastTerminationState.Terminated.DeepCopy()
		}
	}
	return nil
}

func containerStatus(c corev1.Container, in statusInput, defaultWait string) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	rs, exists := in.Runtime[c.Name]
	if exists {
		cs.ContainerID = "kubelet-lite://" + rs.ID
		cs.ImageID = rs.ImageID
		cs.RestartCount = int32(rs.Attempt)
	}
	w, isWaiting := in.Waiting[c.Name]
	switch {
	case exists && rs.State == sandbox.StateRunning:
		started := in.Started == nil || in.Started(c.Name)
		cs.Started, cs.Ready = &started, in.Ready == nil || in.Ready(c.Name)
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(rs.StartedAt)}
	case exists && rs.State == sandbox.StateExited && !isWaiting:
		cs.State.Terminated = terminated(rs)
	case isWaiting:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		if exists && rs.State == sandbox.StateExited {
			cs.LastTerminationState.Terminated = terminated(rs)
		}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: defaultWait}
	}
	return cs
}

func terminated(rs sandbox.ContainerStatus) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode: int32(rs.ExitCode), Reason: rs.Reason, Message: rs.Message,
		StartedAt: metav1.NewTime(rs.StartedAt), FinishedAt: metav1.NewTime(rs.FinishedAt),
		ContainerID: "kubelet-lite://" + rs.ID,
	}
}

// backOffWaiting is the waiting state of a container in CrashLoopBackOff.
func backOffWaiting(pod *corev1.Pod, name string, d time.Duration) waiting {
	return waiting{Reason: reasonCrashLoopBackOff, Message: fmt.Sprintf(
		"back-off %s restarting failed container=%s pod=%s_%s(%s)", d.Round(time.Second), name, pod.Name, pod.Namespace, pod.UID)}
}
