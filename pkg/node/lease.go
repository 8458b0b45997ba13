package node

import (
	"context"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/apimachinery/lease"
)

// newLeaseController returns upstream's lease controller for
// kube-node-lease/<node>, held by the node and owned by its Node.
func (c *Controller) newLeaseController() lease.Controller {
	return lease.NewController(
		c.cfg.Clock, c.cfg.Client, c.cfg.NodeName,
		int32(c.cfg.LeaseDuration.Seconds()), nil, c.cfg.LeaseRenewInterval,
		c.cfg.NodeName, LeaseNamespace, c.setNodeOwner)
}

// setNodeOwner makes the Node the owner of a lease that has no owner, so
// the garbage collector removes the lease with the Node. An error (no Node
// to read) keeps the lease from being created this round, as upstream.
func (c *Controller) setNodeOwner(l *coordinationv1.Lease) error {
	if len(l.OwnerReferences) > 0 {
		return nil
	}
	node, err := c.cfg.Client.CoreV1().Nodes().Get(context.TODO(), c.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node for lease owner: %w", err)
	}
	l.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: corev1.SchemeGroupVersion.Version,
		Kind:       "Node",
		Name:       c.cfg.NodeName,
		UID:        node.UID,
	}}
	return nil
}
