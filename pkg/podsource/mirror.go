package podsource

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Mirrors keeps one mirror pod in the apiserver for each static pod of the
// node, so the cluster sees the static pods (kubectl get pods) and the node
// has somewhere to report their status. A mirror pod is the static pod's
// name, namespace, labels, annotations and spec, with ConfigMirrorAnnotation
// set to the static pod's config hash and the Node as its controlling owner,
// as the NodeRestriction admission plugin requires.
type Mirrors struct {
	Client   kubernetes.Interface
	NodeName string
	// Resync is how often Run syncs without a change; 0 means 10 s.
	Resync time.Duration

	mu      sync.Mutex
	static  []*corev1.Pod
	changed chan struct{}
}

// Sync makes the mirror pods on the node match the static pods in pods (pods
// whose ConfigSourceAnnotation is "api" are ignored, so the merged set can be
// passed): it creates missing mirrors, recreates those whose hash differs or
// that are being deleted, and deletes mirrors whose static pod is gone. It is
// level-triggered and idempotent; deleting what is gone is success.
func (m *Mirrors) Sync(ctx context.Context, pods []*corev1.Pod) error {
	if m.Client == nil || m.NodeName == "" {
		return errors.New("mirror pods need Client and NodeName")
	}
	desired := map[string]*corev1.Pod{}
	for _, p := range pods {
		if IsStatic(p) && !IsMirror(p) {
			desired[p.Namespace+"/"+p.Name] = p
		}
	}
	list, err := m.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", m.NodeName).String(),
	})
	if err != nil {
		return fmt.Errorf("list pods of node %s: %w", m.NodeName, err)
	}
	actual := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		actual[p.Namespace+"/"+p.Name] = p
	}
	var errs []error
	var owner *metav1.OwnerReference
	for key, static := range desired {
		cur, exists := actual[key]
		if exists && !IsMirror(cur) {
			klog.ErrorS(nil, "A pod of the apiserver has the name of a static pod; not mirroring it", "pod", key)
			continue
		}
		if exists && cur.Annotations[ConfigMirrorAnnotation] == hashOf(static) && cur.DeletionTimestamp == nil {
			continue
		}
		if exists {
			if err := m.remove(ctx, cur); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if owner == nil {
			if owner, err = m.nodeOwner(ctx); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
		if err := m.create(ctx, static, *owner); err != nil {
			errs = append(errs, err)
		}
	}
	for key, cur := range actual {
		if _, ok := desired[key]; !ok && IsMirror(cur) {
			errs = append(errs, m.remove(ctx, cur))
		}
	}
	return errors.Join(errs...)
}

// Set records the node's current pods for Run; it never blocks.
func (m *Mirrors) Set(pods []*corev1.Pod) {
	m.mu.Lock()
	m.static = pods
	ch := m.changedLocked()
	m.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run syncs the pods last Set after each Set, every Resync, and again soon
// after a failed sync, until ctx ends. Nothing is synced before the first Set,
// so mirrors are not deleted before the static pods are known.
func (m *Mirrors) Run(ctx context.Context) {
	resync := m.Resync
	if resync <= 0 {
		resync = 10 * time.Second
	}
	m.mu.Lock()
	changed := m.changedLocked()
	m.mu.Unlock()
	retry := time.Duration(0)
	timer := time.NewTimer(resync)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-timer.C:
		}
		m.mu.Lock()
		pods := m.static
		m.mu.Unlock()
		next := resync
		if pods != nil {
			if err := m.Sync(ctx, pods); err != nil {
				retry = min(max(2*retry, 500*time.Millisecond), resync)
				next = retry
				klog.ErrorS(err, "Syncing mirror pods failed, will retry", "after", next)
			} else {
				retry = 0
			}
		}
		timer.Reset(next)
	}
}

func (m *Mirrors) changedLocked() chan struct{} {
	if m.changed == nil {
		m.changed = make(chan struct{}, 1)
	}
	return m.changed
}

// nodeOwner is the owner reference to the node that mirror pods carry.
func (m *Mirrors) nodeOwner(ctx context.Context) (*metav1.OwnerReference, error) {
	node, err := m.Client.CoreV1().Nodes().Get(ctx, m.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get node %s for mirror pods: %w", m.NodeName, err)
	}
	return &metav1.OwnerReference{
		APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: ptr.To(true),
	}, nil
}

func (m *Mirrors) create(ctx context.Context, static *corev1.Pod, owner metav1.OwnerReference) error {
	mirror := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: static.Name, Namespace: static.Namespace,
			Labels: static.Labels, Annotations: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Spec: *static.Spec.DeepCopy(),
	}
	for k, v := range static.Annotations {
		mirror.Annotations[k] = v
	}
	mirror.Annotations[ConfigMirrorAnnotation] = hashOf(static)
	mirror.Spec.NodeName = m.NodeName
	_, err := m.Client.CoreV1().Pods(mirror.Namespace).Create(ctx, mirror, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create mirror pod %s/%s: %w", mirror.Namespace, mirror.Name, err)
	}
	klog.V(2).InfoS("Created mirror pod", "pod", klog.KObj(mirror), "hash", mirror.Annotations[ConfigMirrorAnnotation])
	return nil
}

// remove deletes a mirror pod at once; a pod already gone, or replaced by
// another with the same name, is success.
func (m *Mirrors) remove(ctx context.Context, mirror *corev1.Pod) error {
	err := DeleteNow(ctx, m.Client, mirror.Namespace, mirror.Name, mirror.UID)
	if err != nil {
		return fmt.Errorf("delete mirror pod %s/%s: %w", mirror.Namespace, mirror.Name, err)
	}
	klog.V(2).InfoS("Deleted mirror pod", "pod", klog.KObj(mirror))
	return nil
}

// DeleteNow deletes pod namespace/name with grace period 0 if its UID is
// still uid. A pod that is gone, or whose name now belongs to another UID,
// is success.
func DeleteNow(ctx context.Context, c kubernetes.Interface, namespace, name string, uid types.UID) error {
	err := c.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// hashOf is the config hash of a static pod, which its mirror carries.
func hashOf(static *corev1.Pod) string {
	if h := static.Annotations[ConfigHashAnnotation]; h != "" {
		return h
	}
	return string(static.UID)
}
