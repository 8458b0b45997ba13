package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
)

// requestTimeout bounds one call to the apiserver, so a hung connection
// cannot stall the loop.
const requestTimeout = 10 * time.Second

// errNoMirror means a static pod has no mirror pod with its hash yet;
// podsource.Mirrors makes it, and the status is sent after.
var errNoMirror = errors.New("no mirror pod with the static pod's hash yet")

// item is one pod's work in a flush, copied out of its entry.
type item struct {
	uid             types.UID
	namespace, name string
	static          bool
	hash            string
	status          corev1.PodStatus
	gen             uint64
	send, deleting  bool
	mirrorUID       types.UID
}

// outcome is what came of an item.
type outcome struct {
	sent      bool // the status reached the apiserver, or has nowhere to go
	done      bool // the deletion is done: forget the pod
	mirrorUID types.UID
	err       error
}

// flush sends what is due, Parallel requests at a time.
func (m *Manager) flush(ctx context.Context) {
	items, unknown := m.take()
	if len(unknown) > 0 {
		m.deleteUnknown(ctx, unknown)
	}
	if len(items) == 0 {
		return
	}
	results := make([]outcome, len(items))
	sem := make(chan struct{}, m.cfg.Parallel)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = m.process(ctx, it)
		})
	}
	wg.Wait()
	m.finish(items, results)
}

// take marks the pods that are due busy and copies out their work.
func (m *Manager) take() ([]item, []types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var items []item
	for uid, e := range m.pods {
		if !e.dirty() || e.busy || now.Before(e.notBefore) {
			continue
		}
		e.busy = true
		items = append(items, item{
			uid: uid, namespace: e.namespace, name: e.name, static: e.static, hash: e.hash,
			status: *e.status.DeepCopy(), gen: e.gen, send: e.gen > e.sent && e.pod != nil,
			deleting: e.deleting, mirrorUID: e.mirrorUID,
		})
	}
	var unknown []types.UID
	for uid := range m.unknown {
		unknown = append(unknown, uid)
	}
	return items, unknown
}

// process sends one pod's status, then deletes it if that is due.
func (m *Manager) process(ctx context.Context, it item) outcome {
	o := outcome{mirrorUID: it.mirrorUID}
	if it.deleting && it.static {
		// The static pod is gone; podsource.Mirrors removes its mirror.
		o.sent, o.done = true, true
		return o
	}
	if it.send {
		target, err := m.target(ctx, it)
		if err == nil {
			err = m.patch(ctx, it.namespace, it.name, target, it.status)
		}
		switch {
		case err == nil:
			o.sent = true
			if it.static {
				o.mirrorUID = target
			}
		case it.static && (errors.Is(err, errNoMirror) || apierrors.IsNotFound(err) || otherUID(err)):
			o.mirrorUID, o.err = "", err // look for the (new) mirror next time
			return o
		case apierrors.IsNotFound(err) || otherUID(err):
			// The pod is gone, or its name belongs to another pod now.
			o.sent = true
		default:
			o.err = err
			return o
		}
	}
	if it.deleting {
		if err := m.deleteIfDeleting(ctx, it.namespace, it.name, it.uid); err != nil {
			o.err = err
			return o
		}
		o.done = true
	}
	return o
}

// finish records the outcomes: a failed pod waits its backoff, a deleted one
// is forgotten unless it was Set again meanwhile.
func (m *Manager) finish(items []item, results []outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for i, it := range items {
		o, e := results[i], m.pods[it.uid]
		e.busy = false
		e.mirrorUID = o.mirrorUID
		if o.sent && e.sent < it.gen {
			e.sent = it.gen
		}
		if o.err != nil {
			e.failures++
			wait := min(100*time.Millisecond<<min(e.failures, 10), m.cfg.MaxBackoff)
			e.notBefore = now.Add(wait)
			if e.failures == 1 {
				klog.ErrorS(o.err, "Sending pod status failed, will retry", "pod", klog.KRef(it.namespace, it.name), "podUID", it.uid)
			} else {
				klog.V(4).InfoS("Sending pod status failed again", "pod", klog.KRef(it.namespace, it.name), "failures", e.failures, "err", o.err)
			}
			continue
		}
		if e.failures > 0 {
			klog.InfoS("Sent pod status after failures", "pod", klog.KRef(it.namespace, it.name), "failures", e.failures)
		}
		e.failures, e.notBefore = 0, time.Time{}
		if o.done && e.deleting && e.gen == it.gen {
			delete(m.pods, it.uid)
		}
	}
}

// target is the UID of the API pod that receives it's status: the pod's
// own, or for a static pod its mirror's.
func (m *Manager) target(ctx context.Context, it item) (types.UID, error) {
	if !it.static {
		return it.uid, nil
	}
	if it.mirrorUID != "" {
		return it.mirrorUID, nil
	}
	matches := func(p *corev1.Pod) bool { return p.Annotations[podsource.ConfigMirrorAnnotation] == it.hash }
	if m.cfg.Pods != nil {
		if p, ok := m.cfg.Pods.Pod(it.namespace, it.name); ok && matches(p) {
			return p.UID, nil
		}
	}
	p, err := m.get(ctx, it.namespace, it.name)
	if apierrors.IsNotFound(err) {
		return "", errNoMirror
	}
	if err != nil {
		return "", err
	}
	if !matches(p) {
		return "", errNoMirror
	}
	return p.UID, nil
}

func (m *Manager) get(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return m.cfg.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// patch sends st as the status of pod namespace/name if its UID is uid.
func (m *Manager) patch(ctx context.Context, namespace, name string, uid types.UID, st corev1.PodStatus) error {
	body, err := patchBody(uid, st)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err = m.cfg.Client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("patch status of %s/%s: %w", namespace, name, err)
	}
	klog.V(4).InfoS("Sent pod status", "pod", klog.KRef(namespace, name), "phase", st.Phase)
	return nil
}

// patchBody is a strategic merge patch of the pod's status. metadata.uid
// makes the apiserver refuse it (422, metadata.uid is immutable) when the
// name belongs to another pod;
// fields the node owns that are empty are cleared; conditions merge by type,
// so others' conditions (PodScheduled, readiness gates) stay; the IP lists
// are replaced.
func patchBody(uid types.UID, st corev1.PodStatus) ([]byte, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	for _, k := range []string{"message", "reason", "hostIP", "hostIPs", "podIP", "podIPs", "initContainerStatuses", "containerStatuses"} {
		if _, ok := fields[k]; !ok {
			fields[k] = nil
		}
	}
	for _, k := range []string{"hostIPs", "podIPs"} {
		if l, ok := fields[k].([]any); ok {
			fields[k] = append(l, map[string]any{"$patch": "replace"})
		}
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid}, "status": fields})
}

// otherUID says whether the apiserver refused a patch because the pod's
// name belongs to another UID now: the apiserver answers 422 "metadata.uid:
// field is immutable" (a 409 is accepted too).
func otherUID(err error) bool {
	if apierrors.IsConflict(err) {
		return true
	}
	if !apierrors.IsInvalid(err) {
		return false
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) || se.Status().Details == nil {
		return false
	}
	for _, c := range se.Status().Details.Causes {
		if c.Field == "metadata.uid" {
			return true
		}
	}
	return false
}

// deleteIfDeleting deletes the API pod with grace 0 if it is still uid and
// being deleted; a pod that is gone or not being deleted is left alone.
func (m *Manager) deleteIfDeleting(ctx context.Context, namespace, name string, uid types.UID) error {
	var p *corev1.Pod
	if m.cfg.Pods != nil {
		if c, ok := m.cfg.Pods.Pod(namespace, name); ok && c.UID == uid && c.DeletionTimestamp != nil {
			p = c
		}
	}
	if p == nil {
		got, err := m.get(ctx, namespace, name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get pod %s/%s to delete it: %w", namespace, name, err)
		}
		p = got
	}
	if p.UID != uid || p.DeletionTimestamp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := podsource.DeleteNow(ctx, m.cfg.Client, namespace, name, uid); err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	klog.V(2).InfoS("Deleted pod the node cleaned up", "pod", klog.KRef(namespace, name), "podUID", uid)
	return nil
}

// deleteUnknown handles Deletes of pods never Set: it finds them among the
// node's pods by UID, with one list.
func (m *Manager) deleteUnknown(ctx context.Context, uids []types.UID) {
	lctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	list, err := m.cfg.Client.CoreV1().Pods(metav1.NamespaceAll).List(lctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", m.cfg.NodeName).String(),
	})
	if err != nil {
		klog.ErrorS(err, "Listing the node's pods to delete the cleaned-up ones failed, will retry")
		return
	}
	byUID := map[types.UID]*corev1.Pod{}
	for i := range list.Items {
		byUID[list.Items[i].UID] = &list.Items[i]
	}
	for _, uid := range uids {
		if p := byUID[uid]; p != nil && p.DeletionTimestamp != nil {
			if err := m.deleteIfDeleting(ctx, p.Namespace, p.Name, uid); err != nil {
				klog.ErrorS(err, "Deleting a cleaned-up pod failed, will retry", "podUID", uid)
				continue
			}
		}
		m.mu.Lock()
		delete(m.unknown, uid)
		m.mu.Unlock()
	}
}

// upToDate says whether the apiserver's status api already holds what want
// says in the fields the node owns.
func upToDate(api, want corev1.PodStatus) bool {
	raw, err := json.Marshal(want)
	if err != nil {
		return false
	}
	var w corev1.PodStatus // the same precision as what came back from the apiserver
	if err := json.Unmarshal(raw, &w); err != nil {
		return false
	}
	for _, c := range w.Conditions {
		a := condition(api.Conditions, c.Type)
		if a == nil || a.Status != c.Status || a.Reason != c.Reason || a.Message != c.Message {
			return false
		}
	}
	a, w := api, w
	a.Conditions, w.Conditions = nil, nil
	a.NominatedNodeName, w.NominatedNodeName = "", ""
	return equality.Semantic.DeepEqual(a, w)
}

func statusEqual(a, b corev1.PodStatus) bool { return equality.Semantic.DeepEqual(a, b) }
