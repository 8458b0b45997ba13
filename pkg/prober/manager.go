package prober

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Manager runs the probes of the containers it is told about. Its methods
// are safe for concurrent use and may be called from the Results callback.
type Manager struct {
	cfg   Config
	clock clock.WithTicker

	mu      sync.Mutex
	entries map[key]*entry
}

type key struct {
	uid  types.UID
	name string
}

// entry is one container attempt and its probes.
type entry struct {
	pod       *corev1.Pod
	container *corev1.Container
	startedAt time.Time
	probes    map[Kind]*corev1.Probe
	results   map[Kind]Result
	cancel    map[Kind]context.CancelFunc
}

// New returns a Manager; Execer, Network and Results are required.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new prober: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Manager{cfg: cfg, clock: cfg.Clock, entries: map[key]*entry{}}, nil
}

// Add starts probing one attempt of a container (an app container or a
// sidecar) that started at startedAt, replacing the workers of an earlier
// attempt. Call it for every container that started, with or without
// probes, so Started and Ready know it. A container the pod does not have
// is an error.
func (m *Manager) Add(pod *corev1.Pod, container string, startedAt time.Time) error {
	c := findContainer(pod, container)
	if c == nil {
		return fmt.Errorf("add probes of %s/%s: no container %q", pod.Namespace, pod.Name, container)
	}
	e := &entry{
		pod: pod, container: c, startedAt: startedAt,
		probes: map[Kind]*corev1.Probe{}, results: map[Kind]Result{}, cancel: map[Kind]context.CancelFunc{},
	}
	initial := map[Kind]Status{Liveness: Success, Readiness: Failure, Startup: Unknown}
	for kind, p := range map[Kind]*corev1.Probe{Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe, Startup: c.StartupProbe} {
		if p == nil {
			continue
		}
		e.probes[kind] = p
		e.results[kind] = Result{Status: initial[kind]}
	}
	k := key{pod.UID, container}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopLocked(k)
	m.entries[k] = e
	for kind, p := range e.probes {
		if pod.DeletionTimestamp != nil && kind != Readiness {
			continue // no restarts once the pod is being deleted
		}
		ctx, cancel := context.WithCancel(context.Background())
		e.cancel[kind] = cancel
		w := &worker{m: m, key: k, e: e, kind: kind, probe: p, timing: probeTiming(p)}
		go w.run(ctx)
	}
	klog.V(4).InfoS("Probing container", "pod", klog.KObj(pod), "container", container, "probes", len(e.probes))
	return nil
}

// findContainer returns the app container or sidecar of that name.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.Name == name && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return c
		}
	}
	return nil
}

// Remove stops probing a container; removing an unknown one is a no-op.
// A probe running at that moment may still end, but reports nothing.
func (m *Manager) Remove(podUID types.UID, container string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopLocked(key{podUID, container})
}

// RemovePod stops probing every container of a pod.
func (m *Manager) RemovePod(podUID types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.entries {
		if k.uid == podUID {
			m.stopLocked(k)
		}
	}
}

func (m *Manager) stopLocked(k key) {
	e := m.entries[k]
	if e == nil {
		return
	}
	for _, cancel := range e.cancel {
		cancel()
	}
	delete(m.entries, k)
}

// Terminating stops the liveness and startup probes of a pod that is being
// deleted, so none of its containers is restarted; liveness then reads as
// a success. Readiness probes go on.
func (m *Manager) Terminating(podUID types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if k.uid != podUID {
			continue
		}
		for _, kind := range []Kind{Liveness, Startup} {
			if cancel := e.cancel[kind]; cancel != nil {
				cancel()
				delete(e.cancel, kind)
			}
		}
		if _, ok := e.probes[Liveness]; ok {
			e.results[Liveness] = Result{Status: Success}
		}
	}
}

// Result returns the current result of a probe; false when the container
// is not known or has no such probe.
func (m *Manager) Result(podUID types.UID, container string, kind Kind) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key{podUID, container}]
	if e == nil {
		return Result{}, false
	}
	r, ok := e.results[kind]
	return r, ok
}

// Started tells whether a known container has started: it has no startup
// probe, or that probe succeeded.
func (m *Manager) Started(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key{podUID, container}]
	return e != nil && e.startedLocked()
}

func (e *entry) startedLocked() bool {
	r, ok := e.results[Startup]
	return !ok || r.Status == Success
}

// Ready tells whether a known container is ready: it has started, and it
// has no readiness probe or that probe succeeded.
func (m *Manager) Ready(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key{podUID, container}]
	if e == nil || !e.startedLocked() {
		return false
	}
	r, ok := e.results[Readiness]
	return !ok || r.Status == Success
}

// set records a worker's result and reports a change, unless the worker's
// container attempt was removed or replaced.
func (m *Manager) set(w *worker, r Result) {
	m.mu.Lock()
	e := m.entries[w.key]
	if e != w.e || e.cancel[w.kind] == nil {
		m.mu.Unlock()
		return
	}
	old := e.results[w.kind]
	e.results[w.kind] = r
	m.mu.Unlock()
	if old.Status != r.Status {
		klog.V(2).InfoS("Probe result changed", "pod", klog.KObj(w.e.pod), "container", w.key.name,
			"probe", w.kind, "result", r.Status, "message", r.Message)
		m.cfg.Results(w.key.uid, w.key.name, w.kind, r)
	}
}

// started reports whether the worker's container attempt has started.
func (m *Manager) started(w *worker) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.e.startedLocked()
}
