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
	reasonImagePullBackOff  = "ImagePullBackOff"
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
	// Previous holds, per container, the exited attempt it was last
	// restarted from: the last state of the attempt after it.
	Previous map[string]sandbox.ContainerStatus
	// PodIPs are the pod's IPs on the node's network, the primary one first.
	PodIPs []string
	// Ready and Started, when set, give the probes' verdicts for running
	// containers; without them a running container is ready and started.
	Ready, Started func(container string) bool
}

// buildStatus renders a sync's outcome as the upstream PodStatus: one status
// per container (init containers in InitContainerStatuses), an exited
// container that waits to restart shown as waiting with its last state, a
// restarted one with the attempt before as its last state, and an init
// container that exited 0 ready, as upstream's prober manager marks it.
func buildStatus(pod *corev1.Pod, in statusInput) corev1.PodStatus {
	st := corev1.PodStatus{Phase: in.Phase, QOSClass: in.QOS}
	if !in.StartTime.IsZero() {
		t := metav1.NewTime(in.StartTime)
		st.StartTime = &t
	}
	for _, ip := range in.PodIPs {
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(in.PodIPs) > 0 {
		st.PodIP = in.PodIPs[0]
	}
	defaultWait := reasonContainerCreating
	for _, c := range pod.Spec.InitContainers {
		cs := containerStatus(c, in, defaultWait, pod.Status.InitContainerStatuses)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 && !sidecar {
			cs.Ready = true
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if rs, ok := in.Runtime[c.Name]; !ok || rs.State != sandbox.StateExited || rs.ExitCode != 0 {
			defaultWait = reasonPodInitializing
		}
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(c, in, defaultWait, pod.Status.ContainerStatuses))
	}
	return st
}

// containerStatus is one container's status; reported is what the pod's
// status said of its containers before.
func containerStatus(c corev1.Container, in statusInput, defaultWait string, reported []corev1.ContainerStatus) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	rs, exists := in.Runtime[c.Name]
	if exists {
		cs.ContainerID = containerID(rs)
		cs.ImageID = rs.ImageID
		cs.RestartCount = int32(rs.Attempt)
		cs.LastTerminationState.Terminated = lastState(c.Name, rs, in, reported)
	}
	w, isWaiting := in.Waiting[c.Name]
	started := false
	cs.Started = &started
	switch {
	case exists && rs.State == sandbox.StateRunning:
		started = in.Started == nil || in.Started(c.Name)
		cs.Ready = in.Ready == nil || in.Ready(c.Name)
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

// lastState is how the attempt before rs ended: the attempt the worker
// restarted the container from or, when this process did not restart it
// (the agent restarted since), what the pod's status last said of rs.
func lastState(name string, rs sandbox.ContainerStatus, in statusInput, reported []corev1.ContainerStatus) *corev1.ContainerStateTerminated {
	if prev, ok := in.Previous[name]; ok && prev.Attempt == rs.Attempt-1 {
		return terminated(prev)
	}
	id := containerID(rs)
	for _, cs := range reported {
		if last := cs.LastTerminationState.Terminated; cs.Name == name && cs.ContainerID == id && last != nil && last.ContainerID != id {
			return last.DeepCopy()
		}
	}
	return nil
}

func containerID(rs sandbox.ContainerStatus) string { return "kubelet-lite://" + rs.ID }

func terminated(rs sandbox.ContainerStatus) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode: int32(rs.ExitCode), Reason: rs.Reason, Message: rs.Message,
		StartedAt: metav1.NewTime(rs.StartedAt), FinishedAt: metav1.NewTime(rs.FinishedAt),
		ContainerID: containerID(rs),
	}
}

// backOffWaiting is the waiting state of a container in CrashLoopBackOff;
// d is the whole backoff period, as upstream says it, not what is left of it.
func backOffWaiting(pod *corev1.Pod, name string, d time.Duration) waiting {
	return waiting{Reason: reasonCrashLoopBackOff, Message: fmt.Sprintf(
		"back-off %s restarting failed container=%s pod=%s_%s(%s)", d.Round(time.Second), name, pod.Name, pod.Namespace, pod.UID)}
}
