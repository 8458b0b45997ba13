package node

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pressureText holds upstream's reasons and messages of a pressure
// condition: [true reason, true message, false reason, false message].
var pressureText = map[corev1.NodeConditionType][4]string{
	corev1.NodeMemoryPressure: {
		"KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
		"KubeletHasSufficientMemory", "kubelet has sufficient memory available",
	},
	corev1.NodeDiskPressure: {
		"KubeletHasDiskPressure", "kubelet has disk pressure",
		"KubeletHasNoDiskPressure", "kubelet has no disk pressure",
	},
	corev1.NodePIDPressure: {
		"KubeletHasInsufficientPID", "kubelet has insufficient PID available",
		"KubeletHasSufficientPID", "kubelet has sufficient PID available",
	},
}

// condition returns node's condition of type t, appending an Unknown one if
// there is none.
func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown})
	return &node.Status.Conditions[len(node.Status.Conditions)-1]
}

// set sets a condition's status, reason and message and its heartbeat to
// now; lastTransitionTime moves only when the status changes.
func set(cond *corev1.NodeCondition, status corev1.ConditionStatus, reason, message string, now metav1.Time) {
	if cond.Status != status || cond.LastTransitionTime.IsZero() {
		cond.LastTransitionTime = now
	}
	cond.Status, cond.Reason, cond.Message = status, reason, message
	cond.LastHeartbeatTime = now
}

// setReady sets the Ready condition: True (KubeletReady) when err is nil,
// else False (KubeletNotReady) with err as the message.
func setReady(node *corev1.Node, err error, now metav1.Time) {
	cond := condition(node, corev1.NodeReady)
	if err != nil {
		set(cond, corev1.ConditionFalse, "KubeletNotReady", err.Error(), now)
		return
	}
	set(cond, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status", now)
}

// setPressure sets a pressure condition with upstream's reasons and
// messages.
func setPressure(node *corev1.Node, t corev1.NodeConditionType, pressure bool, now metav1.Time) {
	text := pressureText[t]
	cond := condition(node, t)
	if pressure {
		set(cond, corev1.ConditionTrue, text[0], text[1], now)
		return
	}
	set(cond, corev1.ConditionFalse, text[2], text[3], now)
}

// heartbeat renews a condition's heartbeat and nothing else; a condition
// that does not exist yet is added as Unknown.
func heartbeat(node *corev1.Node, t corev1.NodeConditionType, now metav1.Time) {
	cond := condition(node, t)
	if cond.LastTransitionTime.IsZero() {
		cond.LastTransitionTime = now
	}
	cond.LastHeartbeatTime = now
}
