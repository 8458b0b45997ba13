package status

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
)

// PodGetter returns the apiserver's pod namespace/name from a cache, such as
// podsource.API's. The pod must not be modified.
type PodGetter interface {
	Pod(namespace, name string) (*corev1.Pod, bool)
}

// Config is what a Manager is built from. Client and NodeName are required.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// HostIPs are the node's addresses, reported as hostIP(s) of a status
	// that has none.
	HostIPs []string
	// Pods, optional, is a cache of the node's API pods (podsource.API): it
	// spares a GET per lookup, gives readiness gates their current
	// conditions, and lets the resync skip pods whose status is up to date.
	Pods PodGetter
	// Resync is how often every status is checked again; 0 means 10 s.
	Resync time.Duration
	// Batch is how long a change waits for others to be sent with it; 0
	// means 100 ms.
	Batch time.Duration
	// MaxBackoff caps the wait before a failed pod is retried; 0 means 5 s.
	MaxBackoff time.Duration
	// Parallel bounds the requests in flight; 0 means 4.
	Parallel int
}

// Manager reports pod statuses to the apiserver and deletes pods the node
// has cleaned up. It implements the pod workers' Statuses: Set and Delete
// only record what is wanted and never wait for the network; Run sends it.
type Manager struct {
	cfg  Config
	wake chan struct{}
	now  func() time.Time

	mu   sync.Mutex
	pods map[types.UID]*entry
	// unknown holds Deletes of pods never Set: found by listing the node's pods.
	unknown map[types.UID]bool
}

// entry is what the Manager knows of one pod of the node.
type entry struct {
	namespace, name string
	static          bool
	hash            string // a static pod's config hash, which its mirror carries
	gates           bool   // the pod has readiness gates
	pod             *corev1.Pod
	input           corev1.PodStatus // as Set, for recomputing Ready
	status          corev1.PodStatus // what is sent: input + conditions, IPs
	gen, sent       uint64           // sets seen; the set last sent
	deleting        bool
	busy            bool
	mirrorUID       types.UID
	failures        int
	notBefore       time.Time
}

func (e *entry) dirty() bool { return e.gen > e.sent || e.deleting }

// receives says whether api is the pod that gets e's status: the pod
// itself, or a static pod's mirror with its hash.
func (e *entry) receives(api *corev1.Pod) bool {
	if e.static {
		return api.Annotations[podsource.ConfigMirrorAnnotation] == e.hash
	}
	return api.UID == e.pod.UID
}

// New checks cfg and returns a Manager; Run sends.
func New(cfg Config) (*Manager, error) {
	var missing []error
	if cfg.Client == nil {
		missing = append(missing, errors.New("Client"))
	}
	if cfg.NodeName == "" {
		missing = append(missing, errors.New("NodeName"))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("status manager needs: %w", errors.Join(missing...))
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	return &Manager{
		cfg: cfg, wake: make(chan struct{}, 1), now: time.Now,
		pods: map[types.UID]*entry{}, unknown: map[types.UID]bool{},
	}, nil
}

// Set records st as pod's newest status, with the kubelet's conditions and
// the IPs filled in; Run sends it. Static pods' statuses go to their mirror.
func (m *Manager) Set(pod *corev1.Pod, st corev1.PodStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.pods[pod.UID]
	if e == nil {
		e = &entry{namespace: pod.Namespace, name: pod.Name, static: podsource.IsStatic(pod)}
		e.status.Conditions = pod.Status.Conditions
		m.pods[pod.UID] = e
	}
	e.hash = pod.Annotations[podsource.ConfigHashAnnotation]
	if e.hash == "" {
		e.hash = string(pod.UID)
	}
	e.gates = len(pod.Spec.ReadinessGates) > 0
	e.pod, e.input = pod, *st.DeepCopy()
	e.status = m.compute(e)
	e.deleting = false
	delete(m.unknown, pod.UID)
	e.gen++
	m.poke()
	return nil
}

// Delete records that the node has cleaned up the pod: its last status is
// sent, then an API pod being deleted (deletionTimestamp set) is deleted
// with grace period 0 and its UID as precondition, and the pod is forgotten.
// A pod that is gone already is success. Static pods are only forgotten
// (their mirror goes with podsource.Mirrors).
func (m *Manager) Delete(uid types.UID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.pods[uid]; e != nil {
		e.deleting = true
	} else {
		m.unknown[uid] = true
	}
	m.poke()
	return nil
}

// Unsent is the number of pods whose newest status or deletion has not
// reached the apiserver yet.
func (m *Manager) Unsent() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.unknown)
	for _, e := range m.pods {
		if e.dirty() {
			n++
		}
	}
	return n
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// compute is the status sent for e: what the worker reported, the kubelet's
// conditions (merged with the others the pod has), the node's and pod's IPs.
func (m *Manager) compute(e *entry) corev1.PodStatus {
	st := *e.input.DeepCopy()
	others := e.pod.Status.Conditions
	if !e.static && m.cfg.Pods != nil {
		if api, ok := m.cfg.Pods.Pod(e.namespace, e.name); ok && api.UID == e.pod.UID {
			others = api.Status.Conditions
		}
	}
	view := *e.pod
	view.Status.Conditions = mergeConditions(others, e.status.Conditions)
	now := metav1.NewTime(m.now().Truncate(time.Second))
	st.Conditions = Conditions(&view, st)
	for i := range st.Conditions {
		if st.Conditions[i].LastTransitionTime.IsZero() {
			st.Conditions[i].LastTransitionTime = now
		}
	}
	if !e.static && st.ObservedGeneration == 0 {
		st.ObservedGeneration = e.pod.Generation
	}
	fillIPs(&st, m.cfg.HostIPs, e.pod.Spec.HostNetwork)
	return st
}

// mergeConditions is the kubelet's conditions from owned and the others
// (readiness gates' and the scheduler's) from others.
func mergeConditions(others, owned []corev1.PodCondition) []corev1.PodCondition {
	var out []corev1.PodCondition
	for _, c := range owned {
		if kubeletOwned[c.Type] {
			out = append(out, c)
		}
	}
	for _, c := range others {
		if !kubeletOwned[c.Type] {
			out = append(out, c)
		}
	}
	return out
}

// kubeletOwned are the condition types Conditions computes.
var kubeletOwned = map[corev1.PodConditionType]bool{
	corev1.PodReadyToStartContainers: true, corev1.PodInitialized: true,
	corev1.ContainersReady: true, corev1.PodReady: true,
}

// fillIPs makes the single and plural IP fields agree, takes the node's
// addresses as host IPs when the status has none, and the host IPs as pod
// IPs for a pod on the host's network, as upstream does.
func fillIPs(st *corev1.PodStatus, nodeIPs []string, hostNetwork bool) {
	if st.HostIP == "" && len(st.HostIPs) == 0 {
		for _, ip := range nodeIPs {
			st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
		}
	}
	if len(st.HostIPs) == 0 && st.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if st.HostIP == "" && len(st.HostIPs) > 0 {
		st.HostIP = st.HostIPs[0].IP
	}
	if hostNetwork && st.PodIP == "" && len(st.PodIPs) == 0 {
		for _, h := range st.HostIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP(h))
		}
	}
	if len(st.PodIPs) == 0 && st.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if st.PodIP == "" && len(st.PodIPs) > 0 {
		st.PodIP = st.PodIPs[0].IP
	}
}

// Run sends statuses and deletions until ctx ends: a change after Batch, so
// changes close together go out together; a failed pod again after its
// backoff (newer statuses replace the unsent one, nothing is dropped); and
// every Resync each pod again (unless the Pods cache shows it up to date).
func (m *Manager) Run(ctx context.Context) {
	resync := time.NewTicker(m.cfg.Resync)
	defer resync.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
			select { // gather the changes of the batch window
			case <-ctx.Done():
				return
			case <-time.After(m.cfg.Batch):
			}
		case <-retry.C:
		case <-resync.C:
			m.markResync()
		}
		m.flush(ctx)
		retry.Reset(m.nextRetry())
	}
}

// nextRetry is how long until the earliest pod in backoff may be retried.
func (m *Manager) nextRetry() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := time.Hour
	if len(m.unknown) > 0 {
		next = m.cfg.MaxBackoff
	}
	now := m.now()
	for _, e := range m.pods {
		if e.dirty() {
			next = min(next, max(e.notBefore.Sub(now), time.Millisecond))
		}
	}
	return next
}

// markResync marks every pod to be sent again, except those the Pods cache
// shows up to date. Pods with readiness gates get their Ready recomputed.
func (m *Manager) markResync() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.pods {
		if e.gates && e.pod != nil {
			if st := m.compute(e); !statusEqual(st, e.status) {
				e.status = st
				e.gen++
			}
		}
		if e.dirty() || e.pod == nil {
			continue
		}
		if m.cfg.Pods != nil {
			if api, ok := m.cfg.Pods.Pod(e.namespace, e.name); ok && e.receives(api) && upToDate(api.Status, e.status) {
				continue
			}
		}
		e.sent = 0
	}
}
