package status

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Reasons of the conditions the kubelet owns, as upstream reports them.
const (
	ReasonUnknownContainerStatuses = "UnknownContainerStatuses"
	ReasonPodCompleted             = "PodCompleted"
	ReasonPodFailed                = "PodFailed"
	ReasonContainersNotReady       = "ContainersNotReady"
	ReasonContainersNotInitialized = "ContainersNotInitialized"
	ReasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
)

// Conditions returns the four pod conditions the kubelet owns, in upstream's
// order, for pod reporting st: PodReadyToStartContainers, Initialized,
// ContainersReady and Ready, with upstream's reasons and messages.
//
// pod.Status.Conditions are the conditions reported before (the apiserver's,
// or the last ones computed): readiness gates are read from them, and a
// condition whose status did not change keeps its lastTransitionTime. A
// condition that changed has a zero lastTransitionTime, for the caller to
// stamp with the time it records the status.
//
// The sandbox counts as ready to start containers while the pod is not in a
// terminal phase and st has a pod IP or a container that was created.
func Conditions(pod *corev1.Pod, st corev1.PodStatus) []corev1.PodCondition {
	all := append(append([]corev1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...)
	if st.InitContainerStatuses == nil && st.ContainerStatuses == nil {
		all = nil
	}
	ready := containersReady(pod, all, st.Phase)
	conds := []corev1.PodCondition{
		readyToStart(st),
		initialized(pod, all, st.Phase),
		ready,
		podReady(pod, ready),
	}
	for i := range conds {
		conds[i].ObservedGeneration = pod.Generation
		if prev := condition(pod.Status.Conditions, conds[i].Type); prev != nil && prev.Status == conds[i].Status {
			conds[i].LastTransitionTime = prev.LastTransitionTime
		}
	}
	return conds
}

func readyToStart(st corev1.PodStatus) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		return c
	}
	created := st.PodIP != "" || len(st.PodIPs) > 0
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for _, cs := range list {
			created = created || cs.ContainerID != ""
		}
	}
	if created {
		c.Status = corev1.ConditionTrue
	}
	return c
}

// initialized is upstream's Initialized condition. A regular init container
// counts as done when it is ready or has exited 0 (upstream marks succeeded
// init containers ready); a sidecar (restartPolicy Always) when it started.
func initialized(pod *corev1.Pod, all []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	if all == nil && len(pod.Spec.InitContainers) > 0 {
		c.Status, c.Reason = corev1.ConditionFalse, ReasonUnknownContainerStatuses
		return c
	}
	var unknown, incomplete []string
	for _, ic := range pod.Spec.InitContainers {
		cs := containerStatus(all, ic.Name)
		switch {
		case cs == nil:
			unknown = append(unknown, ic.Name)
		case isSidecar(ic):
			if cs.Started == nil || !*cs.Started {
				incomplete = append(incomplete, ic.Name)
			}
		case !cs.Ready && (cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0):
			incomplete = append(incomplete, ic.Name)
		}
	}
	if phase == corev1.PodSucceeded && len(unknown) == 0 {
		c.Reason = ReasonPodCompleted
		return c
	}
	if anyAppContainerStarted(pod, all) {
		return c
	}
	if msg := notReadyMessage(unknown, "incomplete", incomplete); msg != "" {
		c.Status, c.Reason, c.Message = corev1.ConditionFalse, ReasonContainersNotInitialized, msg
	}
	return c
}

// containersReady is upstream's ContainersReady condition: every app
// container and sidecar ready.
func containersReady(pod *corev1.Pod, all []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}
	if all == nil {
		c.Reason = ReasonUnknownContainerStatuses
		return c
	}
	var unknown, unready []string
	for _, ctr := range append(sidecars(pod), pod.Spec.Containers...) {
		cs := containerStatus(all, ctr.Name)
		switch {
		case cs == nil:
			unknown = append(unknown, ctr.Name)
		case !cs.Ready:
			unready = append(unready, ctr.Name)
		}
	}
	switch {
	case phase == corev1.PodSucceeded && len(unknown) == 0:
		c.Reason = ReasonPodCompleted
		return c
	case phase == corev1.PodFailed:
		c.Reason = ReasonPodFailed
		return c
	}
	if msg := notReadyMessage(unknown, "unready", unready); msg != "" {
		c.Reason, c.Message = ReasonContainersNotReady, msg
		return c
	}
	c.Status = corev1.ConditionTrue
	return c
}

// podReady is upstream's Ready condition: ContainersReady, and every
// readiness gate's condition True.
func podReady(pod *corev1.Pod, ready corev1.PodCondition) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodReady, Status: ready.Status, Reason: ready.Reason, Message: ready.Message}
	if ready.Status != corev1.ConditionTrue {
		return c
	}
	var msgs []string
	for _, g := range pod.Spec.ReadinessGates {
		gc := condition(pod.Status.Conditions, g.ConditionType)
		switch {
		case gc == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(g.ConditionType)))
		case gc.Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(g.ConditionType), gc.Status))
		}
	}
	if len(msgs) > 0 {
		c.Status, c.Reason, c.Message = corev1.ConditionFalse, ReasonReadinessGatesNotReady, strings.Join(msgs, ", ")
	}
	return c
}

func notReadyMessage(unknown []string, what string, bad []string) string {
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(bad) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with %s status: %s", what, bad))
	}
	return strings.Join(msgs, ", ")
}

func anyAppContainerStarted(pod *corev1.Pod, all []corev1.ContainerStatus) bool {
	for _, ctr := range pod.Spec.Containers {
		if cs := containerStatus(all, ctr.Name); cs != nil && (cs.State.Running != nil || cs.State.Terminated != nil) {
			return true
		}
	}
	return false
}

func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func sidecars(pod *corev1.Pod) []corev1.Container {
	var out []corev1.Container
	for _, c := range pod.Spec.InitContainers {
		if isSidecar(c) {
			out = append(out, c)
		}
	}
	return out
}

func condition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func containerStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}
