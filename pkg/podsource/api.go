package podsource

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// APISource is the value of ConfigSourceAnnotation on pods from the apiserver.
const APISource = "api"

// coalesce is how long the API source waits after a change before it sends
// the set, so a burst of events (a Deployment scaled up) is one update.
const coalesce = 50 * time.Millisecond

// API is the pods the apiserver binds to NodeName. It watches only pods with
// spec.nodeName=NodeName, the one pod list the Node authorizer allows a node.
type API struct {
	Client   kubernetes.Interface
	NodeName string
	// Events, optional, also receives the informer's events: the node's
	// pods (mirror pods too) as the watch delivers them, status changes
	// included. It must not modify the pods.
	Events cache.ResourceEventHandler

	lister atomic.Pointer[corelisters.PodLister]
}

// Run sends the whole set of the node's pods to update: once the informer's
// cache has synced, then after every change that matters to the node
// (coalesced). It has the contract of Dir.Run. Mirror pods are left out: they
// stand for static pods another source reports. Terminal pods and pods being
// deleted (deletionTimestamp set) are reported; each pod is a copy with
// ConfigSourceAnnotation = "api". Run returns when ctx ends.
func (a *API) Run(ctx context.Context, update func([]*corev1.Pod)) error {
	if a.Client == nil || a.NodeName == "" {
		return errors.New("api pod source needs Client and NodeName")
	}
	selector := fields.OneTermEqualSelector("spec.nodeName", a.NodeName).String()
	factory := informers.NewSharedInformerFactoryWithOptions(a.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	defer factory.Shutdown()
	pods := factory.Core().V1().Pods()
	changed := make(chan struct{}, 1)
	mark := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	_, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { mark() },
		UpdateFunc: func(oldObj, newObj any) {
			if old, ok := oldObj.(*corev1.Pod); !ok || matters(old, newObj.(*corev1.Pod)) {
				mark()
			}
		},
		DeleteFunc: func(any) { mark() },
	})
	if err != nil {
		return fmt.Errorf("api pod source: %w", err)
	}
	if a.Events != nil {
		if _, err := pods.Informer().AddEventHandler(a.Events); err != nil {
			return fmt.Errorf("api pod source: %w", err)
		}
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		return nil // ctx ended
	}
	lister := pods.Lister()
	a.lister.Store(&lister)
	defer a.lister.Store(nil)
	mark() // the first set is sent even when the node has no pods
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select { // let a burst of events settle
		case <-ctx.Done():
			return nil
		case <-time.After(coalesce):
		}
		select { // the events during the wait are in this set
		case <-changed:
		default:
		}
		set, err := current(lister)
		if err != nil {
			return fmt.Errorf("api pod source: %w", err)
		}
		klog.V(4).InfoS("API pods changed", "node", a.NodeName, "pods", len(set))
		update(set)
	}
}

// Pod returns the apiserver's current pod namespace/name (a mirror pod too)
// from the source's cache, while Run runs. The pod must not be modified.
func (a *API) Pod(namespace, name string) (*corev1.Pod, bool) {
	l := a.lister.Load()
	if l == nil {
		return nil, false
	}
	p, err := (*l).Pods(namespace).Get(name)
	if err != nil {
		return nil, false
	}
	return p, true
}

// current lists the node's pods from the cache, minus mirror pods.
func current(lister corelisters.PodLister) ([]*corev1.Pod, error) {
	all, err := lister.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	set := make([]*corev1.Pod, 0, len(all))
	for _, p := range all {
		if IsMirror(p) {
			continue
		}
		c := p.DeepCopy()
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[ConfigSourceAnnotation] = APISource
		set = append(set, c)
	}
	return set, nil
}

// matters says whether an update changes what the node runs: its status
// alone does not (the node writes it), nor a resync of the same object.
func matters(old, cur *corev1.Pod) bool {
	return old.UID != cur.UID ||
		!equality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		!equality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, cur.Annotations) ||
		!equality.Semantic.DeepEqual(old.DeletionTimestamp, cur.DeletionTimestamp) ||
		!equality.Semantic.DeepEqual(old.DeletionGracePeriodSeconds, cur.DeletionGracePeriodSeconds)
}

// IsMirror says whether pod is a mirror pod: the apiserver's copy of a
// static pod.
func IsMirror(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[ConfigMirrorAnnotation]
	return ok
}

// IsStatic says whether pod comes from a source other than the apiserver.
func IsStatic(pod *corev1.Pod) bool {
	return pod.Annotations[ConfigSourceAnnotation] != APISource
}
