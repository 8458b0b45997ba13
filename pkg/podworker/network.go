package podworker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

var (
	// ErrNetworkNotReady is wrapped by Network.Setup while the node's pod
	// network is not configured (no pod CIDR yet, no CNI configuration).
	ErrNetworkNotReady = errors.New("network is not ready")
	// ErrHostPortConflict is wrapped by Network.Setup when another pod on
	// the node holds one of the pod's host ports.
	ErrHostPortConflict = errors.New("host port conflict")
)

// Network attaches the pods that have their own network namespace to the
// node's pod network.
type Network interface {
	// Setup attaches pod, whose sandbox's PID 1 is sandboxPID, and returns
	// its IPs, the primary one first. It may be called again with the same
	// arguments, also by another agent process, and then changes nothing; a
	// new sandboxPID (the sandbox was made again) moves the attachment to the
	// new sandbox.
	Setup(ctx context.Context, pod *corev1.Pod, sandboxPID int) ([]string, error)
	// Teardown detaches the pod and releases its IPs and host ports; a pod
	// that is not attached is success.
	Teardown(ctx context.Context, pod *corev1.Pod) error
}

// ensureNetwork attaches a pod that has its own network namespace to the
// node's network, once per sandbox, and remembers its IPs. When it cannot,
// it says why the containers the sync would start must wait, as upstream
// does: NetworkNotReady while the node's network is not there, and
// FailedCreatePodSandBox otherwise (a host port conflict among them).
func (wk *worker) ensureNetwork(ctx context.Context, pod *corev1.Pod) (waiting, error) {
	p := wk.parent
	if p.cfg.Network == nil || pod.Spec.HostNetwork || (wk.netPID == wk.sandboxPID && len(wk.podIPs) > 0) {
		return waiting{}, nil
	}
	ips, err := p.cfg.Network.Setup(ctx, pod, wk.sandboxPID)
	if err != nil {
		w := networkWaiting(err)
		if errors.Is(err, ErrNetworkNotReady) {
			p.cfg.Recorder.Event(pod, corev1.EventTypeWarning, "NetworkNotReady", w.Message)
		} else {
			p.cfg.Recorder.Event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", w.Message)
		}
		return w, fmt.Errorf("pod network: %w", err)
	}
	if !slices.Equal(ips, wk.podIPs) {
		klog.V(2).InfoS("Pod attached to the network", "pod", klog.KObj(pod), "ips", ips)
	}
	wk.mu.Lock()
	wk.netPID, wk.podIPs = wk.sandboxPID, ips
	wk.mu.Unlock()
	return waiting{}, nil
}

// networkWaiting is how a container waits for its pod's network: still
// ContainerCreating, with the reason in the message.
func networkWaiting(err error) waiting {
	msg := fmt.Sprintf("Failed to create pod sandbox: %v", err)
	if errors.Is(err, ErrNetworkNotReady) {
		msg = err.Error()
	}
	return waiting{Reason: reasonContainerCreating, Message: msg}
}

// ips returns the pod's IPs from its network attachment.
func (wk *worker) ips() []string {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	return wk.podIPs
}

// withIPs returns pod with the IPs of its network attachment in its status,
// for the downward API of the containers started before the status says so.
func withIPs(pod *corev1.Pod, ips []string) *corev1.Pod {
	if len(ips) == 0 {
		return pod
	}
	p := pod.DeepCopy()
	p.Status.PodIP = ips[0]
	p.Status.PodIPs = nil
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	return p
}
