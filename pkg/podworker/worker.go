package podworker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/metrics"
	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/serviceenv"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// A failed sync is tried again after retryAfter, doubling with each failure
// in a row up to maxRetryAfter (upstream's pod workers wait 10 s after a
// failed sync), so a pod that cannot start yet does not flood the log and a
// pod waiting for a ConfigMap starts soon after it is made.
const (
	retryAfter    = time.Second
	maxRetryAfter = 10 * time.Second
)

// worker syncs one pod; its goroutine is the only one touching the pod's
// sandbox and containers.
type worker struct {
	parent *Workers
	wake   chan struct{}
	gone   chan struct{}

	// sandboxPID is the sandbox's PID at the last sync; a new one means the
	// sandbox was recreated and the containers joined namespaces now gone.
	sandboxPID int
	// netPID is the sandbox PID whose network namespace was attached to the
	// node's network last.
	netPID int
	// dnsWarned is set once the pod's DNS warnings were told as events.
	dnsWarned bool

	mu  sync.Mutex
	pod *corev1.Pod
	// failed is set when the pod can never run (bad spec): syncs stop.
	failed bool
	// rejected is set when admission refused the pod; it never runs.
	rejected *rejection
	// volumesOf is the pod object the volumes were last made for.
	volumesOf *corev1.Pod
	// probed maps a container to the attempt (ID) whose probes run.
	probed map[string]string
	// previous maps a container to the exited attempt it was last restarted
	// from, which upstream shows as the lastState of the attempt after it.
	previous map[string]sandbox.ContainerStatus
	// startTime is when the worker first synced the pod, or the start time
	// the pod's status had then (from before the agent restarted).
	startTime time.Time
	// reported is the status last handed to the status store.
	reported *corev1.PodStatus
	// podIPs are the IPs of the pod's network attachment.
	podIPs []string
	// oomReported maps a container to the attempt (ID) whose OOM kill was
	// last told as an event.
	oomReported map[string]string
	// seen is when the worker was made: when this agent first saw the pod.
	seen time.Time
	// synced is the pod object the last sync was for, nil before the first.
	synced *corev1.Pod
	// runningSeen is set once the pod was reported Running, or was seen
	// Running already, so its start duration is observed once.
	runningSeen bool
}

func newWorker(parent *Workers, pod *corev1.Pod) *worker {
	wk := &worker{parent: parent, pod: pod, wake: make(chan struct{}, 1), gone: make(chan struct{}), seen: time.Now()}
	wk.poke()
	return wk
}

func (wk *worker) poke() {
	select {
	case wk.wake <- struct{}{}:
	default:
	}
}

func (wk *worker) update(pod *corev1.Pod) {
	wk.mu.Lock()
	wk.pod = pod
	wk.mu.Unlock()
	wk.poke()
}

func (wk *worker) delete() { close(wk.gone) }

func (wk *worker) current() *corev1.Pod {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	return wk.pod
}

// run syncs whenever woken or when a backoff ends, until the pod is deleted
// (then it terminates the pod) or the agent stops (then it leaves it running).
func (wk *worker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-wk.gone:
			wk.terminate(ctx)
			return
		case <-wk.wake:
		case <-timer.C:
		}
		next, err := wk.syncOnce(ctx)
		if err != nil {
			next = min(retryAfter<<min(failures, 10), maxRetryAfter)
			failures++
			klog.ErrorS(err, "Sync failed, will retry", "pod", klog.KObj(wk.current()), "after", next)
		} else {
			failures = 0
		}
		timer.Reset(next)
	}
}

func (wk *worker) syncOnce(ctx context.Context) (time.Duration, error) {
	p := wk.parent
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if wk.failed {
		return time.Hour, nil
	}
	pod := wk.current()
	op := metrics.SyncSync
	switch {
	case wk.synced == nil:
		op = metrics.SyncCreate
	case specChanged(wk.synced, pod):
		op = metrics.SyncUpdate
	}
	start := time.Now()
	next, err := wk.sync(ctx, pod)
	wk.synced = pod
	p.cfg.Metrics.PodSynced(op, time.Since(start))
	klog.V(4).InfoS("Synced pod", "pod", klog.KObj(pod), "duration", time.Since(start), "err", err)
	return next, err
}

// specChanged says whether cur asks the node for something other than old
// did: a new spec, labels or annotations (downward API files), or deletion.
// A new copy of the same pod, or a new status, is not a change.
func specChanged(old, cur *corev1.Pod) bool {
	return old != cur && (old.UID != cur.UID ||
		!equality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		!equality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, cur.Annotations) ||
		!equality.Semantic.DeepEqual(old.DeletionTimestamp, cur.DeletionTimestamp))
}

// sync drives the node one step towards pod, reports its status, and says
// when to look again.
func (wk *worker) sync(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	p := wk.parent
	if wk.startTime.IsZero() {
		wk.startTime = time.Now()
		if st := pod.Status.StartTime; st != nil && !st.IsZero() {
			wk.startTime = st.Time
		}
	}
	if r := wk.rejected; r != nil {
		wk.failed = true
		p.cfg.Recorder.Event(pod, corev1.EventTypeWarning, r.Reason, r.Message)
		klog.InfoS("Pod rejected", "pod", klog.KObj(pod), "reason", r.Reason, "message", r.Message)
		wk.report(pod, corev1.PodStatus{Phase: corev1.PodFailed, Reason: r.Reason, Message: r.Message})
		return time.Hour, nil
	}
	res, err := translate.Pod(pod, p.cfg.Node)
	if err != nil {
		wk.failed = true
		p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Pod cannot run: %v", err)
		klog.ErrorS(err, "Pod cannot run", "pod", klog.KObj(pod))
		wk.report(pod, corev1.PodStatus{Phase: corev1.PodFailed, Reason: reasonInvalidSpec, Message: err.Error()})
		return time.Hour, nil
	}
	if err := p.cfg.Cgroups.EnsurePod(res.Pod); err != nil {
		return 0, err
	}
	if err := wk.ensureSandbox(ctx, pod, res); err != nil {
		return 0, err
	}
	obs, before, err := wk.observe(pod)
	if err != nil {
		return 0, err
	}
	wk.initContainersRan(pod, before)
	plan := decide(pod, obs, wk.backOff(pod))
	wk.rememberRestarts(plan, before)
	waits := map[string]waiting{}
	var errs []error
	if w, err := wk.ensureNetwork(ctx, pod); err != nil {
		for _, s := range plan.Start {
			waits[s.Container.Name] = w
		}
		wk.report(pod, wk.status(pod, res, plan.Phase, before, waits))
		return 0, err
	}
	// Volumes are made before a container starts, and made again when the
	// pod changed, so that downward API files follow its labels.
	var mounts map[string][]sandbox.Mount
	if len(plan.Start) > 0 || pod != wk.volumesOf {
		if mounts, err = p.cfg.Volumes.Setup(ctx, pod); err != nil {
			p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "%v", err)
			// The pod is reported as it is (a new one Pending, its
			// containers ContainerCreating) until the volumes can be made.
			wk.report(pod, wk.status(pod, res, plan.Phase, before, nil))
			return 0, fmt.Errorf("volumes: %w", err)
		}
		wk.volumesOf = pod
	}
	etcMounts, err := wk.writeEtc(pod, len(plan.Start) > 0)
	if err != nil {
		wk.report(pod, wk.status(pod, res, plan.Phase, before, nil))
		return 0, err
	}
	for _, s := range plan.Start {
		if w, err := wk.startContainer(ctx, pod, res, s, withEtcMounts(mounts[s.Container.Name], etcMounts)); err != nil {
			waits[s.Container.Name] = w
			errs = append(errs, err)
		}
	}
	next := time.Hour
	for name, d := range plan.BackOff {
		p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)",
			name, pod.Name, pod.Namespace, pod.UID)
		waits[name] = backOffWaiting(pod, name, p.backoff.Get(backOffKey(pod, name)))
		next = min(next, d)
	}
	after, raw, err := wk.observe(pod)
	if err != nil {
		return 0, err
	}
	wk.probe(pod, raw)
	wk.reportOOMKills(pod, raw)
	wk.initContainersRan(pod, raw)
	// The phase is that of the containers as they are now; deciding again
	// with a backoff that only looks (never records a restart) gives it.
	phase := decide(pod, after, func(string, time.Time) time.Duration { return time.Second }).Phase
	wk.report(pod, wk.status(pod, res, phase, raw, waits))
	klog.V(2).InfoS("Pod synced", "pod", klog.KObj(pod), "phase", phase, "started", len(plan.Start), "backingOff", len(plan.BackOff))
	return next, errors.Join(errs...)
}

// writeEtc writes the pod's managed /etc files before containers start
// and returns their mounts; the first time, it tells the DNS warnings.
func (wk *worker) writeEtc(pod *corev1.Pod, starting bool) ([]sandbox.Mount, error) {
	p := wk.parent
	if p.cfg.Etc == nil || !starting {
		return nil, nil
	}
	mounts, warnings, err := p.cfg.Etc.write(pod, wk.ips())
	if err != nil {
		return nil, err
	}
	if !wk.dnsWarned {
		wk.dnsWarned = true
		for _, w := range warnings {
			p.cfg.Recorder.Event(pod, corev1.EventTypeWarning, w.Reason, w.Message)
		}
	}
	return mounts, nil
}

// status is the pod's status with the containers as raw shows them.
func (wk *worker) status(pod *corev1.Pod, res *translate.Result, phase corev1.PodPhase, raw map[string]sandbox.ContainerStatus, waits map[string]waiting) corev1.PodStatus {
	in := statusInput{QOS: res.QOSClass, Phase: phase, StartTime: wk.startTime, Runtime: raw, Waiting: waits, Previous: wk.previous, PodIPs: wk.ips()}
	if pr := wk.parent.cfg.Probes; pr != nil {
		in.Ready = func(name string) bool { return pr.Ready(pod.UID, name) }
		in.Started = func(name string) bool { return pr.Started(pod.UID, name) }
	}
	return buildStatus(pod, in)
}

// reportOOMKills tells, once per container attempt, that the kernel's OOM
// killer ended it at its memory limit. Upstream's kubelet only reports
// system-wide OOM kills (as SystemOOM on the node); a pod's own event, named
// as node-problem-detector names it, is what a user looking at the pod
// needs.
func (wk *worker) reportOOMKills(pod *corev1.Pod, raw map[string]sandbox.ContainerStatus) {
	for _, c := range allContainers(pod) {
		st, ok := raw[c.Name]
		if !ok || st.State != sandbox.StateExited || st.Reason != sandbox.ReasonOOMKilled || wk.oomReported[c.Name] == st.ID {
			continue
		}
		if wk.oomReported == nil {
			wk.oomReported = map[string]string{}
		}
		wk.oomReported[c.Name] = st.ID
		wk.parent.cfg.Metrics.OOMKilled()
		limit := "its pod's memory limit"
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			limit = "its memory limit of " + q.String()
		}
		msg := fmt.Sprintf("Memory cgroup out of memory: container %s (restart %d) was killed at %s", c.Name, st.Attempt, limit)
		if st.Message != "" {
			// The runtime read from the cgroups which level hit its limit.
			msg = fmt.Sprintf("Memory cgroup out of memory: container %s (restart %d): %s", c.Name, st.Attempt, st.Message)
		}
		wk.parent.cfg.Recorder.Event(pod, corev1.EventTypeWarning, "OOMKilling", msg)
	}
}

// initContainersRan tells the metrics the runs of the pod's init
// containers that exited, which its start SLI leaves out. Sidecars
// (restartPolicy Always) keep running and are not left out.
func (wk *worker) initContainersRan(pod *corev1.Pod, raw map[string]sandbox.ContainerStatus) {
	for _, c := range pod.Spec.InitContainers {
		st, ok := raw[c.Name]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if ok && !sidecar && st.State == sandbox.StateExited {
			wk.parent.cfg.Metrics.InitContainerRan(pod.UID, st.ID, st.StartedAt, st.FinishedAt)
		}
	}
}

// rememberRestarts keeps the exited attempt of each container the plan
// restarts, as the last state of the next one.
func (wk *worker) rememberRestarts(p plan, before map[string]sandbox.ContainerStatus) {
	for _, s := range p.Start {
		if st, ok := before[s.Container.Name]; ok && st.State == sandbox.StateExited {
			if wk.previous == nil {
				wk.previous = map[string]sandbox.ContainerStatus{}
			}
			wk.previous[s.Container.Name] = st
		}
	}
}

// ensureSandbox makes the pod's sandbox run. A sandbox recreated since the
// last sync has new namespaces, so the containers that joined the old ones
// are stopped and then restarted by the restart policy.
func (wk *worker) ensureSandbox(ctx context.Context, pod *corev1.Pod, res *translate.Result) error {
	p := wk.parent
	pid, err := p.cfg.Runtime.EnsureSandbox(ctx, sandboxSpec(pod, res))
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if wk.sandboxPID != 0 && pid != wk.sandboxPID {
		klog.InfoS("Sandbox was recreated; stopping the containers of the old one", "pod", klog.KObj(pod))
		for _, c := range allContainers(pod) {
			if err := p.cfg.Runtime.StopContainer(ctx, pod.UID, c.Name, 0); err != nil {
				return fmt.Errorf("stop container %s of the old sandbox: %w", c.Name, err)
			}
		}
	}
	wk.sandboxPID = pid
	return nil
}

// phase is the phase the worker last reported, "" before its first sync.
func (wk *worker) phase() corev1.PodPhase {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if wk.reported == nil {
		return ""
	}
	return wk.reported.Phase
}

// report hands the pod's status to the status store when it changed.
func (wk *worker) report(pod *corev1.Pod, st corev1.PodStatus) {
	store := wk.parent.cfg.Statuses
	if store == nil || (wk.reported != nil && equality.Semantic.DeepEqual(*wk.reported, st)) {
		return
	}
	if err := store.Set(pod, st); err != nil {
		klog.ErrorS(err, "Recording pod status failed", "pod", klog.KObj(pod))
		return
	}
	wk.mu.Lock()
	wk.reported = &st
	wk.mu.Unlock()
	if !wk.runningSeen && st.Phase == corev1.PodRunning {
		wk.runningSeen = true
		// A pod the apiserver shows Running already was started by an
		// earlier agent process, as upstream's kubelet judges it.
		if pod.Status.Phase != corev1.PodRunning {
			wk.parent.cfg.Metrics.PodRunning(wk.seen, time.Now())
		}
	}
}

// observe reads every container of pod from the runtime.
func (wk *worker) observe(pod *corev1.Pod) (map[string]observed, map[string]sandbox.ContainerStatus, error) {
	obs, raw := map[string]observed{}, map[string]sandbox.ContainerStatus{}
	for _, c := range allContainers(pod) {
		st, err := wk.parent.cfg.Runtime.ContainerStatus(pod.UID, c.Name)
		if errors.Is(err, sandbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("container %s status: %w", c.Name, err)
		}
		o := observed{Attempt: st.Attempt, ExitCode: st.ExitCode, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt}
		switch st.State {
		case sandbox.StateRunning, sandbox.StateCreated:
			o.State = running
		default:
			o.State = exited
		}
		obs[c.Name], raw[c.Name] = o, st
	}
	return obs, raw, nil
}

// backOff applies upstream's CrashLoopBackOff: a container restarts at once
// the first time, then waits 10 s, doubling to 300 s; ten minutes without a
// restart resets it.
func (wk *worker) backOff(pod *corev1.Pod) backOff {
	b := wk.parent.backoff
	return func(name string, finishedAt time.Time) time.Duration {
		key := backOffKey(pod, name)
		if b.IsInBackOffSince(key, finishedAt) {
			return max(b.Get(key)-time.Since(finishedAt), time.Millisecond)
		}
		b.Next(key, finishedAt)
		return 0
	}
}

// backOffKey names a container's entry in the restart backoff.
func backOffKey(pod *corev1.Pod, container string) string {
	return string(pod.UID) + "/" + container
}

// startContainer starts one container; when it cannot, it says why the
// container waits, in the kubelet's words.
func (wk *worker) startContainer(ctx context.Context, pod *corev1.Pod, res *translate.Result, s start, mounts []sandbox.Mount) (waiting, error) {
	p := wk.parent
	c := s.Container
	// A failed pull is not tried again until its backoff passed, as
	// upstream's ImagePullBackOff.
	pullKey, now := string(pod.UID)+"/"+c.Image, p.pullBackoff.Clock.Now()
	if p.pullBackoff.IsInBackOffSinceUpdate(pullKey, now) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		p.cfg.Recorder.Event(pod, corev1.EventTypeNormal, "BackOff", msg)
		return waiting{Reason: reasonImagePullBackOff, Message: msg}, errors.New(msg)
	}
	img, err := wk.pullImage(ctx, pod, c)
	if err != nil {
		reason := reasonErrImagePull
		if c.ImagePullPolicy == corev1.PullNever {
			reason = reasonErrImageNeverPull
		} else {
			p.pullBackoff.Next(pullKey, now)
		}
		return waiting{Reason: reason, Message: err.Error()}, err
	}
	p.pullBackoff.Reset(pullKey)
	env, err := wk.containerEnv(ctx, pod, c)
	if err != nil {
		p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return waiting{Reason: reasonConfigError, Message: err.Error()}, err
	}
	proc, err := buildProcess(pod, c, img, env)
	if err != nil {
		p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return waiting{Reason: reasonConfigError, Message: err.Error()}, err
	}
	sec, err := p.cfg.Security.ContainerSecurity(c)
	if err != nil {
		p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return waiting{Reason: reasonConfigError, Message: err.Error()}, err
	}
	cg, ok := containerCgroup(res, c.Name)
	if !ok {
		err := fmt.Errorf("container %s: no cgroup from the translator", c.Name)
		return waiting{Reason: reasonConfigError, Message: err.Error()}, err
	}
	seccomp, err := seccompProfile(pod, c, p.cfg.Seccomp)
	if err != nil {
		p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return waiting{Reason: reasonCreateError, Message: err.Error()}, err
	}
	spec := sandbox.ContainerSpec{
		PodUID: pod.UID, Name: c.Name, Attempt: s.Attempt,
		Image: c.Image, ImageID: img.RepoDigest, Layers: img.Layers,
		Args: proc.Args, Env: proc.Env, WorkingDir: proc.WorkingDir,
		UID: proc.UID, GID: proc.GID, AdditionalGIDs: proc.Groups,
		Cgroup: cg, LogPath: logPath(p.cfg.LogDir, pod, c.Name, s.Attempt),
		Mounts: mounts, Security: sec, Seccomp: seccomp,
		// Admission let only a profile the kernel has loaded through.
		AppArmorProfile: appArmorName(appArmorProfile(pod, c)),
	}
	st, err := p.cfg.Runtime.StartContainer(ctx, spec)
	if err != nil {
		p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		err = fmt.Errorf("start container %s: %w", c.Name, err)
		return waiting{Reason: reasonCreateError, Message: err.Error()}, err
	}
	p.cfg.Metrics.ContainerStarted(metrics.ContainerType(pod, c.Name), s.Attempt > 0)
	p.cfg.Recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	p.cfg.Recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if h := c.Lifecycle; h != nil && h.PostStart != nil && p.cfg.Probes != nil {
		if err := p.cfg.Probes.RunHook(ctx, pod, c.Name, h.PostStart); err != nil {
			p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			klog.InfoS("PostStart hook failed; stopping the container", "pod", klog.KObj(pod), "container", c.Name, "err", err)
			if err := p.cfg.Runtime.StopContainer(ctx, pod.UID, c.Name, 0); err != nil {
				return waiting{}, fmt.Errorf("stop container %s after its postStart hook failed: %w", c.Name, err)
			}
		}
	}
	klog.V(2).InfoS("Started container", "pod", klog.KObj(pod), "container", c.Name, "attempt", s.Attempt, "pid", st.PID)
	return waiting{}, nil
}

// containerEnv evaluates c's environment from the workers' sources.
func (wk *worker) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	services, err := wk.serviceVars(pod)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", c.Name, err)
	}
	cfg := wk.parent.cfg
	return containerEnv(ctx, withIPs(pod, wk.ips()), c, envSources{
		objs: cfg.Objects, allocatable: cfg.Capacity.Allocatable, services: services, nodeIPs: cfg.NodeIPs,
	})
}

// serviceVars are the service-link variables of pod's containers. A pod
// from the apiserver waits until the Services have been read, as upstream's
// does; a static pod makes do without them.
func (wk *worker) serviceVars(pod *corev1.Pod) (map[string]string, error) {
	svcs := wk.parent.cfg.Services
	if svcs == nil {
		return nil, nil
	}
	list, err := svcs.List()
	if err != nil {
		if podsource.IsStatic(pod) {
			klog.V(2).InfoS("Starting a static pod's container without service variables", "pod", klog.KObj(pod), "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("service variables: %w", err)
	}
	return serviceenv.ForPod(list, pod.Namespace, pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks), nil
}

func (wk *worker) pullImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (Image, error) {
	rec := wk.parent.cfg.Recorder
	var start time.Time
	img, pulled, err := wk.parent.cfg.Images.Ensure(ctx, c.Image, c.ImagePullPolicy, func() {
		start = time.Now()
		rec.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	})
	if !start.IsZero() {
		wk.parent.cfg.Metrics.ImagePulled(pod.UID, start, time.Now(), img.Size, err)
	}
	if err != nil {
		reason, msg := pullFailedEvent(c, err)
		rec.Event(pod, corev1.EventTypeWarning, reason, msg)
		return Image{}, fmt.Errorf("container %s: image %s: %w", c.Name, c.Image, err)
	}
	if pulled {
		rec.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
	} else {
		rec.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
	}
	return img, nil
}

// pullFailedEvent is the reason and message of the event for an image that
// could not be had, in the kubelet's words: under pull policy Never it was
// not present, otherwise the pull failed.
func pullFailedEvent(c *corev1.Container, err error) (reason, message string) {
	if c.ImagePullPolicy == corev1.PullNever {
		return reasonErrImageNeverPull, fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
	}
	return "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
}

// terminate stops the pod gracefully (app containers first, then init
// containers and sidecars) and removes its sandbox, cgroup and logs.
func (wk *worker) terminate(ctx context.Context) {
	pod := wk.current()
	p := wk.parent
	defer func(start time.Time) { p.cfg.Metrics.PodSynced(metrics.SyncKill, time.Since(start)) }(time.Now())
	grace := 30 * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	} else if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	// A deleted pod is cleaned up even while the agent is shutting down.
	ctx = context.WithoutCancel(ctx)
	if p.cfg.Probes != nil {
		p.cfg.Probes.Terminating(pod.UID)
		defer p.cfg.Probes.RemovePod(pod.UID)
	}
	for _, group := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		var wg sync.WaitGroup
		for _, c := range group {
			wg.Go(func() { wk.stopContainer(ctx, pod, &c, grace) })
		}
		wg.Wait()
	}
	for attempt := 0; ; attempt++ {
		err := wk.remove(ctx, pod)
		if err == nil {
			break
		}
		klog.ErrorS(err, "Removing pod failed, will retry", "pod", klog.KObj(pod))
		if attempt == 10 {
			return
		}
		time.Sleep(retryAfter)
	}
	for _, c := range allContainers(pod) {
		p.backoff.DeleteEntry(backOffKey(pod, c.Name))
	}
	if p.cfg.Statuses != nil {
		if err := p.cfg.Statuses.Delete(pod.UID); err != nil {
			klog.ErrorS(err, "Forgetting pod status failed", "pod", klog.KObj(pod))
		}
	}
	klog.InfoS("Pod removed", "pod", klog.KObj(pod), "podUID", pod.UID)
}

// stopContainer runs the container's preStop hook, if it has one and runs,
// then stops it with what is left of the grace period.
func (wk *worker) stopContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, grace time.Duration) {
	p := wk.parent
	p.cfg.Recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
	if h := c.Lifecycle; h != nil && h.PreStop != nil && p.cfg.Probes != nil {
		if st, err := p.cfg.Runtime.ContainerStatus(pod.UID, c.Name); err == nil && st.State == sandbox.StateRunning {
			left, err := p.cfg.Probes.PreStop(ctx, pod, c.Name, grace)
			if err != nil {
				p.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
			}
			grace = left
		}
	}
	if err := p.cfg.Runtime.StopContainer(ctx, pod.UID, c.Name, grace); err != nil {
		klog.ErrorS(err, "Stopping container failed", "pod", klog.KObj(pod), "container", c.Name)
	}
}

// probe starts the probes of every running container attempt that has none.
func (wk *worker) probe(pod *corev1.Pod, raw map[string]sandbox.ContainerStatus) {
	pr := wk.parent.cfg.Probes
	if pr == nil {
		return
	}
	if wk.probed == nil {
		wk.probed = map[string]string{}
	}
	for name, st := range raw {
		if st.State != sandbox.StateRunning || wk.probed[name] == st.ID {
			continue
		}
		if err := pr.Add(pod, name, st.StartedAt); err != nil {
			klog.ErrorS(err, "Starting probes failed", "pod", klog.KObj(pod), "container", name)
			continue
		}
		wk.probed[name] = st.ID
	}
}

func (wk *worker) remove(ctx context.Context, pod *corev1.Pod) error {
	p := wk.parent
	if p.cfg.Network != nil && !pod.Spec.HostNetwork {
		if err := p.cfg.Network.Teardown(ctx, pod); err != nil {
			return fmt.Errorf("pod network: %w", err)
		}
	}
	if p.cfg.Etc != nil {
		if err := os.RemoveAll(p.cfg.Etc.podDir(pod.UID)); err != nil {
			return fmt.Errorf("remove pod files: %w", err)
		}
	}
	if err := p.cfg.Runtime.RemoveSandbox(ctx, pod.UID, time.Second); err != nil {
		return fmt.Errorf("remove sandbox: %w", err)
	}
	if err := p.cfg.Volumes.Teardown(pod.UID); err != nil {
		return fmt.Errorf("remove volumes: %w", err)
	}
	// The QoS class of an orphan is not known: try every place its cgroup can be.
	for _, qos := range []string{"kubepods/", "kubepods/burstable/", "kubepods/besteffort/"} {
		if err := p.cfg.Cgroups.Remove(qos + "pod" + string(pod.UID)); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(podLogDir(p.cfg.LogDir, pod)); err != nil {
		return fmt.Errorf("remove logs: %w", err)
	}
	return nil
}

func sandboxSpec(pod *corev1.Pod, res *translate.Result) sandbox.SandboxSpec {
	host := pod.Spec.Hostname
	if host == "" {
		host = pod.Name
	}
	if len(host) > 63 {
		host = host[:63]
	}
	return sandbox.SandboxSpec{
		UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, Hostname: host,
		HostNetwork: pod.Spec.HostNetwork, HostIPC: pod.Spec.HostIPC, HostPID: pod.Spec.HostPID,
		ShareProcessNamespace: pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace,
		PodCgroup:             res.Pod.Path,
		Sysctls:               translate.Sysctls(pod),
	}
}

func containerCgroup(res *translate.Result, name string) (translate.Cgroup, bool) {
	for _, c := range res.Containers {
		if c.Name == name {
			return c.Cgroup, true
		}
	}
	return translate.Cgroup{}, false
}

func allContainers(pod *corev1.Pod) []corev1.Container {
	return append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
}

// podLogDir is /var/log/pods/<namespace>_<name>_<uid>, as the kubelet names it.
func podLogDir(root string, pod *corev1.Pod) string {
	return filepath.Join(root, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

func logPath(root string, pod *corev1.Pod, container string, attempt int) string {
	return filepath.Join(podLogDir(root, pod), container, fmt.Sprintf("%d.log", attempt))
}
