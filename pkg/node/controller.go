package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// Registration retries back off from 100ms, doubling, to 7s, as upstream's.
const (
	registerBackoffMin = 100 * time.Millisecond
	registerBackoffMax = 7 * time.Second
)

// Run registers the Node (retrying until it succeeds), starts renewing the
// Lease, then syncs the status every StatusInterval until ctx ends, and
// returns nil when it has stopped. A failed sync is logged and retried on
// the next tick. If the Node is deleted, Run registers it again.
func (c *Controller) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("node", c.cfg.NodeName)
	ctx = klog.NewContext(ctx, logger)
	if !c.registerUntilDone(ctx) {
		return nil
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.newLeaseController().Run(ctx) })
	for c.sleep(ctx, c.cfg.StatusInterval) {
		err := c.syncStatus(ctx)
		switch {
		case apierrors.IsNotFound(err):
			logger.Info("Node was deleted, registering it again")
			if !c.registerUntilDone(ctx) {
				return nil
			}
		case err != nil:
			logger.Error(err, "Updating node status failed")
		}
	}
	return nil
}

// sleep waits d on the configured clock; false means ctx ended first.
func (c *Controller) sleep(ctx context.Context, d time.Duration) bool {
	t := c.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// registerUntilDone registers the Node, backing off between failures; it
// returns false when ctx ended first.
func (c *Controller) registerUntilDone(ctx context.Context) bool {
	logger := klog.FromContext(ctx)
	delay := registerBackoffMin
	for {
		err := c.register(ctx)
		if err == nil {
			logger.Info("Registered node")
			return true
		}
		logger.Error(err, "Registering node failed, will retry", "delay", delay)
		if !c.sleep(ctx, delay) {
			return false
		}
		delay = min(2*delay, registerBackoffMax)
	}
}

// register creates the Node with its labels and status. If it exists
// already, it sets the controller's labels on it and patches its status,
// as upstream's tryRegisterWithAPIServer does; labels others added stay.
func (c *Controller) register(ctx context.Context) error {
	nodes := c.cfg.Client.CoreV1().Nodes()
	node := c.initialNode()
	c.setStatus(node)
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err == nil {
		c.lastReport = c.cfg.Clock.Now()
		c.observePodCIDR(created)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node: %w", err)
	}
	existing, err := nodes.Get(ctx, c.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get existing node: %w", err)
	}
	updated := existing.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	for k, v := range node.Labels {
		updated.Labels[k] = v
	}
	c.setStatus(updated)
	patched, err := c.patch(ctx, existing, updated)
	if err != nil {
		return err
	}
	c.observePodCIDR(patched)
	return nil
}

// initialNode returns the Node to create, without status.
func (c *Controller) initialNode() *corev1.Node {
	labels := map[string]string{}
	for k, v := range c.cfg.Labels {
		labels[k] = v
	}
	for k, v := range c.defaultLabels() {
		labels[k] = v
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: c.cfg.NodeName, Labels: labels}}
}

// syncStatus reads the Node, picks up its pod CIDR, and patches its status
// when it changed or was last reported StatusReportFrequency ago. A
// NotFound error means the Node is gone.
func (c *Controller) syncStatus(ctx context.Context) error {
	node, err := c.cfg.Client.CoreV1().Nodes().Get(ctx, c.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node: %w", err)
	}
	c.observePodCIDR(node)
	updated := node.DeepCopy()
	c.setStatus(updated)
	if !statusChanged(&node.Status, &updated.Status) &&
		c.cfg.Clock.Since(c.lastReport) < StatusReportFrequency {
		klog.FromContext(ctx).V(4).Info("Node status unchanged")
		return nil
	}
	patched, err := c.patch(ctx, node, updated)
	if err != nil {
		return err
	}
	c.observePodCIDR(patched)
	return nil
}

// patch sends the status and metadata difference between old and updated
// as a strategic merge patch to the status subresource, and records the
// report time.
func (c *Controller) patch(ctx context.Context, old, updated *corev1.Node) (*corev1.Node, error) {
	data, err := statusPatch(old, updated)
	if err != nil {
		return nil, err
	}
	patched, err := c.cfg.Client.CoreV1().Nodes().Patch(ctx, c.cfg.NodeName,
		types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
	if err != nil {
		return nil, fmt.Errorf("patch node status: %w", err)
	}
	c.lastReport = c.cfg.Clock.Now()
	klog.FromContext(ctx).V(2).Info("Patched node status", "ready", readyStatus(patched))
	return patched, nil
}

// statusChanged says whether the status differs beyond condition
// heartbeats, as upstream's nodeStatusHasChanged.
func statusChanged(old, updated *corev1.NodeStatus) bool {
	strip := func(s *corev1.NodeStatus) *corev1.NodeStatus {
		s = s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return s
	}
	return !equality.Semantic.DeepEqual(strip(old), strip(updated))
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return corev1.ConditionUnknown
}
