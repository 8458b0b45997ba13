package podworker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/metrics"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// Runtime runs sandboxes and containers. Every method may be called again
// with the same arguments; stopping or removing what is gone is success.
type Runtime interface {
	EnsureSandbox(ctx context.Context, spec sandbox.SandboxSpec) (int, error)
	StartContainer(ctx context.Context, spec sandbox.ContainerSpec) (sandbox.ContainerStatus, error)
	StopContainer(ctx context.Context, uid types.UID, name string, grace time.Duration) error
	RemoveSandbox(ctx context.Context, uid types.UID, grace time.Duration) error
	// ContainerStatus returns an error wrapping sandbox.ErrNotFound for a
	// container that was never started.
	ContainerStatus(uid types.UID, name string) (sandbox.ContainerStatus, error)
	ListPods() ([]sandbox.PodState, error)
}

// Images makes an image present by the pull policy and describes it.
type Images interface {
	// onPull is called just before a pull from the registry starts.
	Ensure(ctx context.Context, ref string, policy corev1.PullPolicy, onPull func()) (img Image, pulled bool, err error)
}

// Cgroups makes and removes pod cgroups.
type Cgroups interface {
	EnsurePod(c translate.Cgroup) error
	Remove(rel string) error
}

// Volumes makes the volumes of pods and removes them.
type Volumes interface {
	// Supported reports, without I/O, a pod whose volumes the node cannot make.
	Supported(pod *corev1.Pod) error
	// Setup makes every volume of pod (again; it is idempotent and refreshes
	// content) and returns the mounts of each container by name.
	Setup(ctx context.Context, pod *corev1.Pod) (map[string][]sandbox.Mount, error)
	// Teardown removes every volume of the pod; removing what is gone is success.
	Teardown(uid types.UID) error
	// Pods lists the pods that have volumes on disk.
	Pods() ([]types.UID, error)
}

// Probes runs containers' probes and lifecycle hooks.
type Probes interface {
	// Add starts the probes of a container attempt that started at startedAt.
	Add(pod *corev1.Pod, container string, startedAt time.Time) error
	// Terminating stops liveness and startup probes of a pod being stopped.
	Terminating(uid types.UID)
	RemovePod(uid types.UID)
	// Ready and Started report the readiness and startup probes' verdicts.
	Ready(uid types.UID, container string) bool
	Started(uid types.UID, container string) bool
	RunHook(ctx context.Context, pod *corev1.Pod, container string, h *corev1.LifecycleHandler) error
	// PreStop runs the container's preStop hook and returns what is left of grace.
	PreStop(ctx context.Context, pod *corev1.Pod, container string, grace time.Duration) (time.Duration, error)
}

// Services lists the cluster's Services, for the service-link variables of
// containers.
type Services interface {
	// List returns every Service; an error while they have not been read yet.
	List() ([]*corev1.Service, error)
}

// Statuses receives each pod's status when it changes.
type Statuses interface {
	Set(pod *corev1.Pod, st corev1.PodStatus) error
	// Delete forgets a removed pod; forgetting an unknown pod is success.
	Delete(uid types.UID) error
}

// Config is what the workers are built from; Recorder, Backoff and
// Statuses are optional.
type Config struct {
	Runtime Runtime
	Images  Images
	Cgroups Cgroups
	Volumes Volumes
	// Probes runs probes and hooks; nil runs none.
	Probes Probes
	// Objects gives env its ConfigMaps and Secrets; nil without an apiserver.
	Objects Objects
	// Network attaches the pods that have their own network namespace to
	// the node's network; nil leaves them with a loopback interface only.
	Network Network
	// Etc gives containers the kubelet-managed /etc/hosts, /etc/resolv.conf
	// and /etc/hostname; nil leaves them the image's.
	Etc *EtcFiles
	// Services gives containers their service-link variables; nil (no
	// apiserver) gives none.
	Services Services
	// NodeIPs are the node's addresses, which env's status.hostIP(s) shows
	// (and status.podIP(s) for a pod on the host's network) before the
	// pod's status has them.
	NodeIPs []string
	// Node is passed to the translator.
	Node translate.Node
	// LogDir is the root of container logs (/var/log/pods).
	LogDir string
	// Seccomp is the node's seccomp policy.
	Seccomp Seccomp
	// Capacity is what new pods are admitted against.
	Capacity Capacity
	// Security is what the node allows pods beyond the defaults
	// (privileged containers, unsafe sysctls).
	Security translate.SecurityPolicy
	// MAC tells what mandatory access control the kernel enforces, read at
	// each admission; nil means DetectMAC.
	MAC func() MACHost
	// MaxParallel bounds the number of pods synced at once.
	MaxParallel int
	// Statuses receives pod statuses; nil drops them.
	Statuses Statuses
	// Recorder receives the pod events; nil drops them.
	Recorder record.EventRecorder
	// Backoff is the restart backoff; nil means upstream's 10 s doubling to 300 s.
	Backoff *flowcontrol.Backoff
	// PullBackoff spaces the pulls of an image that failed to pull; nil means
	// upstream's 10 s doubling to 300 s.
	PullBackoff *flowcontrol.Backoff
	// Metrics receives syncs, container starts, pulls and OOM kills; nil
	// records none.
	Metrics *metrics.Kubelet
}

// Workers owns one worker per desired pod.
type Workers struct {
	cfg         Config
	backoff     *flowcontrol.Backoff
	pullBackoff *flowcontrol.Backoff
	sem         chan struct{}

	mu   sync.Mutex
	ctx  context.Context
	pods map[types.UID]*worker
	// ending holds the pods deleted in the apiserver whose termination
	// this process has begun, so that none is started twice.
	ending  map[types.UID]bool
	cleaned bool
	wg      sync.WaitGroup
}

// New checks cfg and returns idle workers; Run starts them.
func New(cfg Config) (*Workers, error) {
	var missing []error
	if cfg.Runtime == nil {
		missing = append(missing, errors.New("Runtime"))
	}
	if cfg.Images == nil {
		missing = append(missing, errors.New("Images"))
	}
	if cfg.Cgroups == nil {
		missing = append(missing, errors.New("Cgroups"))
	}
	if cfg.Volumes == nil {
		missing = append(missing, errors.New("Volumes"))
	}
	if cfg.LogDir == "" {
		missing = append(missing, errors.New("LogDir"))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pod workers need: %w", errors.Join(missing...))
	}
	if cfg.MaxParallel < 1 {
		cfg.MaxParallel = 1
	}
	if cfg.Recorder == nil {
		cfg.Recorder = &record.FakeRecorder{}
	}
	b := cfg.Backoff
	if b == nil {
		b = flowcontrol.NewBackOff(10*time.Second, 300*time.Second)
	}
	pb := cfg.PullBackoff
	if pb == nil {
		pb = flowcontrol.NewBackOff(10*time.Second, 300*time.Second)
	}
	return &Workers{cfg: cfg, backoff: b, pullBackoff: pb, sem: make(chan struct{}, cfg.MaxParallel), pods: map[types.UID]*worker{}, ending: map[types.UID]bool{}}, nil
}

// Run sets the context the workers live in and blocks until it ends. Pods
// keep running when it ends: only their deletion stops them.
func (w *Workers) Run(ctx context.Context) {
	w.mu.Lock()
	w.ctx = ctx
	w.mu.Unlock()
	<-ctx.Done()
	w.wg.Wait()
}

// Update makes pods the desired set: new pods get a worker, changed ones are
// synced again, and pods no longer present are stopped and removed. The first
// call also removes what the runtime runs that no source wants any more.
func (w *Workers) Update(ctx context.Context, pods []*corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil {
		w.ctx = ctx
	}
	desired := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		// A pod the apiserver already knows as finished never runs again:
		// without a worker (the agent restarted) it is only cleaned up, and
		// removed for good once it is being deleted.
		_, known := w.pods[p.UID]
		finished := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		if !known && finished && p.DeletionTimestamp == nil {
			continue
		}
		desired[p.UID] = p
	}
	for uid, wk := range w.pods {
		if _, ok := desired[uid]; !ok {
			wk.delete()
			delete(w.pods, uid)
		}
	}
	for uid := range w.ending {
		if _, ok := desired[uid]; !ok {
			delete(w.ending, uid)
		}
	}
	var added []*corev1.Pod
	for uid, p := range desired {
		wk, ok := w.pods[uid]
		switch {
		case p.DeletionTimestamp != nil && w.ending[uid]:
			// Its termination has begun; the pod goes once it is done.
		case p.DeletionTimestamp != nil:
			// Deleted in the apiserver: stop it gracefully, then let the
			// status store delete it for good.
			w.ending[uid] = true
			if !ok {
				wk = newWorker(w, p)
				w.wg.Add(1)
				go func() { defer w.wg.Done(); wk.run(w.ctx) }()
			}
			wk.update(p)
			wk.delete()
			delete(w.pods, uid)
		case ok:
			wk.update(p)
		default:
			added = append(added, p)
		}
	}
	// Admit new pods oldest first, as upstream does, each against those
	// already admitted.
	sort.Slice(added, func(i, j int) bool {
		ti, tj := added[i].CreationTimestamp, added[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return added[i].Namespace+"/"+added[i].Name < added[j].Namespace+"/"+added[j].Name
	})
	for _, p := range added {
		wk := newWorker(w, p)
		if r := admit(p, w.admittedPods(), w.cfg.Capacity); r != nil {
			wk.rejected = r
		} else if r := w.cfg.Security.Check(p); r != nil {
			wk.rejected = &rejection{Reason: r.Reason, Message: r.Message}
		} else if r := admitMAC(p, w.mac()); r != nil {
			wk.rejected = r
		} else if err := w.cfg.Volumes.Supported(p); err != nil {
			wk.rejected = &rejection{Reason: "UnsupportedVolume", Message: "Pod was rejected: " + err.Error()}
		}
		w.pods[p.UID] = wk
		w.wg.Add(1)
		go func() { defer w.wg.Done(); wk.run(w.ctx) }()
	}
	if !w.cleaned {
		w.cleaned = true
		w.removeOrphans(desired)
	}
}

// mac is what the kernel enforces of mandatory access control now.
func (w *Workers) mac() MACHost {
	if w.cfg.MAC == nil {
		return DetectMAC()
	}
	return w.cfg.MAC()
}

// admittedPods are the pods with a worker that were not rejected, with the
// phase their worker last reported.
func (w *Workers) admittedPods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, wk := range w.pods {
		if wk.rejected != nil {
			continue
		}
		p := wk.current().DeepCopy()
		p.Status.Phase = wk.phase()
		out = append(out, p)
	}
	return out
}

// ProbeFailed stops a container whose liveness or startup probe failed, as
// the kubelet does, so that its restart policy applies; grace is the probe's
// termination grace period.
func (w *Workers) ProbeFailed(uid types.UID, container string, grace time.Duration) {
	w.mu.Lock()
	wk, ok := w.pods[uid]
	ctx := w.ctx
	w.mu.Unlock()
	if !ok || ctx == nil {
		return
	}
	pod := wk.current()
	klog.InfoS("Container failed a probe; stopping it to restart it", "pod", klog.KObj(pod), "container", container)
	w.cfg.Recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s failed liveness probe, will be restarted", container)
	go func() {
		if err := w.cfg.Runtime.StopContainer(ctx, uid, container, grace); err != nil {
			klog.ErrorS(err, "Stopping a container that failed its probe failed", "pod", klog.KObj(pod), "container", container)
		}
		w.Wake(uid)
	}()
}

// Wake asks the pod's worker to sync now, for example when a container exited.
func (w *Workers) Wake(uid types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wk, ok := w.pods[uid]; ok {
		wk.poke()
	}
}

// removeOrphans stops pods the runtime knows but no source wants, once, so a
// manifest removed while the agent was down still goes away.
func (w *Workers) removeOrphans(desired map[types.UID]*corev1.Pod) {
	running, err := w.cfg.Runtime.ListPods()
	if err != nil {
		klog.ErrorS(err, "Listing pods to clean up failed")
		return
	}
	withVolumes, err := w.cfg.Volumes.Pods()
	if err != nil {
		klog.ErrorS(err, "Listing pod volumes to clean up failed")
	}
	for _, uid := range withVolumes {
		if _, ok := desired[uid]; ok || slices.ContainsFunc(running, func(p sandbox.PodState) bool { return p.UID == uid }) {
			continue
		}
		if err := w.cfg.Volumes.Teardown(uid); err != nil {
			klog.ErrorS(err, "Removing the volumes of a pod no source wants failed", "podUID", uid)
		}
	}
	w.removeOrphanEtc(desired, running)
	for _, ps := range running {
		if _, ok := desired[ps.UID]; ok {
			continue
		}
		orphan := &corev1.Pod{}
		orphan.UID, orphan.Namespace, orphan.Name = ps.UID, ps.Namespace, ps.Name
		for _, c := range ps.Containers {
			orphan.Spec.Containers = append(orphan.Spec.Containers, corev1.Container{Name: c.Name})
		}
		klog.InfoS("Removing pod no source wants", "pod", klog.KObj(orphan), "podUID", ps.UID)
		wk := newWorker(w, orphan)
		w.wg.Add(1)
		go func() { defer w.wg.Done(); wk.terminate(w.ctx) }()
	}
}

// removeOrphanEtc removes the managed /etc files of pods that neither a
// source wants nor the runtime runs (those it runs go with their pod).
func (w *Workers) removeOrphanEtc(desired map[types.UID]*corev1.Pod, running []sandbox.PodState) {
	if w.cfg.Etc == nil {
		return
	}
	entries, err := os.ReadDir(w.cfg.Etc.Dir)
	if err != nil && !os.IsNotExist(err) {
		klog.ErrorS(err, "Listing pod files to clean up failed")
	}
	for _, e := range entries {
		uid := types.UID(e.Name())
		if _, ok := desired[uid]; ok || slices.ContainsFunc(running, func(p sandbox.PodState) bool { return p.UID == uid }) {
			continue
		}
		if err := os.RemoveAll(w.cfg.Etc.podDir(uid)); err != nil {
			klog.ErrorS(err, "Removing the files of a pod no source wants failed", "podUID", uid)
		}
	}
}
