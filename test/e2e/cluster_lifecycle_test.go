//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestClusterLifecycle: on one control plane and one agent, the container
// lifecycle a user sees through the apiserver — CrashLoopBackOff with
// upstream's doubling backoff, OOMKilled, readiness turning Ready off and on,
// liveness restarts, init containers in order, a sidecar beside its app, and
// the fields every running pod's status has.
func TestClusterLifecycle(t *testing.T) {
	// Each cluster test has its own control plane and agent, and waits
	// mostly on backoffs and probes: they run side by side.
	t.Parallel()
	a, _, client := clusterAgent(t)
	lc := &lcCluster{t: t, client: client, node: a.node}
	lc.waitNodeReady()
	// Registered after clusterAgent, so it runs before the agent's cleanup,
	// which wants the node empty.
	t.Cleanup(func() { lc.deleteAll(a) })

	// The parallel group ends before the agent is restarted.
	t.Run("group", func(t *testing.T) {
		t.Run("CrashLoopBackOff", func(t *testing.T) { t.Parallel(); lc.crashLoop(t) })
		t.Run("OOMKilled", func(t *testing.T) { t.Parallel(); lc.oomKilled(t) })
		t.Run("Readiness", func(t *testing.T) { t.Parallel(); lc.readiness(t) })
		t.Run("Liveness", func(t *testing.T) { t.Parallel(); lc.liveness(t) })
		t.Run("InitContainers", func(t *testing.T) { t.Parallel(); lc.initContainers(t) })
		t.Run("Sidecar", func(t *testing.T) { t.Parallel(); lc.sidecar(t) })
		t.Run("StatusFields", func(t *testing.T) { t.Parallel(); lc.statusFields(t) })
	})
	t.Run("AgentRestart", func(t *testing.T) { lc.agentRestart(t, a) })
}

const lcNamespace = "default"

// lcCluster is the control plane and node the subtests share.
type lcCluster struct {
	t      *testing.T
	client kubernetes.Interface
	node   string
}

func (lc *lcCluster) waitNodeReady() {
	ctx := context.Background()
	eventually(lc.t, 60*time.Second, "node Ready", func() (bool, string) {
		n, err := lc.client.CoreV1().Nodes().Get(ctx, lc.node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, fmt.Sprintf("%s %s", c.Status, c.Message)
			}
		}
		return false, "no Ready condition"
	})
	// The apiserver admits no pod before its service account exists.
	eventually(lc.t, 60*time.Second, "service account default", func() (bool, string) {
		_, err := lc.client.CoreV1().ServiceAccounts(lcNamespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// deleteAll deletes every pod of the test at once and waits until the
// apiserver and the node have none.
func (lc *lcCluster) deleteAll(a *agent) {
	ctx := context.Background()
	err := lc.client.CoreV1().Pods(lcNamespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)},
		metav1.ListOptions{LabelSelector: "test=lifecycle"})
	if err != nil {
		lc.t.Errorf("delete pods: %v", err)
		return
	}
	eventually(lc.t, 90*time.Second, "every pod gone from the apiserver and the node", func() (bool, string) {
		pods, err := lc.client.CoreV1().Pods(lcNamespace).List(ctx, metav1.ListOptions{LabelSelector: "test=lifecycle"})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0 && len(a.ps()) == 0, fmt.Sprintf("%d in the apiserver, %d on the node", len(pods.Items), len(a.ps()))
	})
}

// create binds a pod with the given spec to the node and returns its name.
func (lc *lcCluster) create(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	spec.NodeName = lc.node
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			list[i].Image, list[i].ImagePullPolicy = busybox, corev1.PullIfNotPresent
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: lcNamespace, Labels: map[string]string{"test": "lifecycle"}},
		Spec:       spec,
	}
	if _, err := lc.client.CoreV1().Pods(lcNamespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

// waitPod polls the pod every 250 ms until cond holds, and returns it.
func (lc *lcCluster) waitPod(t *testing.T, name string, timeout time.Duration, what string, cond func(*corev1.Pod) (bool, string)) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, timeout, name+": "+what, func() (bool, string) {
		p, err := lc.client.CoreV1().Pods(lcNamespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return cond(p)
	})
	return pod
}

// events returns the reasons and messages of the pod's events.
func (lc *lcCluster) events(t *testing.T, pod *corev1.Pod) []string {
	t.Helper()
	sel := fields.Set{"involvedObject.name": pod.Name, "involvedObject.uid": string(pod.UID)}.AsSelector().String()
	evs, err := lc.client.CoreV1().Events(lcNamespace).List(context.Background(), metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatalf("events of %s: %v", pod.Name, err)
	}
	var out []string
	for _, e := range evs.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// waitEvent waits for an event of the pod with that reason.
func (lc *lcCluster) waitEvent(t *testing.T, pod *corev1.Pod, reason string) {
	t.Helper()
	eventually(t, 30*time.Second, pod.Name+": event "+reason, func() (bool, string) {
		evs := lc.events(t, pod)
		for _, e := range evs {
			if strings.HasPrefix(e, reason+": ") {
				return true, ""
			}
		}
		return false, strings.Join(evs, "; ")
	})
}

func (lc *lcCluster) logs(t *testing.T, pod, container string) string {
	t.Helper()
	b, err := lc.client.CoreV1().Pods(lcNamespace).GetLogs(pod, &corev1.PodLogOptions{Container: container}).Do(context.Background()).Raw()
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", pod, container, err)
	}
	return string(b)
}

func lcStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

func lcCondition(pod *corev1.Pod, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func lcState(cs *corev1.ContainerStatus) string {
	if cs == nil {
		return "no status"
	}
	s := fmt.Sprintf("restarts %d ready %v", cs.RestartCount, cs.Ready)
	switch st := cs.State; {
	case st.Running != nil:
		s += " running since " + st.Running.StartedAt.UTC().Format(time.TimeOnly)
	case st.Waiting != nil:
		s += " waiting " + st.Waiting.Reason
	case st.Terminated != nil:
		s += fmt.Sprintf(" terminated %s %d", st.Terminated.Reason, st.Terminated.ExitCode)
	}
	if l := cs.LastTerminationState.Terminated; l != nil {
		s += fmt.Sprintf(", last %s %d %s–%s", l.Reason, l.ExitCode,
			l.StartedAt.UTC().Format(time.TimeOnly), l.FinishedAt.UTC().Format(time.TimeOnly))
	}
	return s
}

// crashLoop: a container that fails after 3 s restarts at once, then after
// 10 s, then after 20 s, waiting in CrashLoopBackOff between, with a BackOff
// event. Each gap is read from one status, while the new attempt runs (3 s
// to catch it): its startedAt minus lastState's finishedAt (whole seconds in
// the API).
func (lc *lcCluster) crashLoop(t *testing.T) {
	const name = "lc-crash"
	lc.create(t, name, corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyAlways,
		Containers:    []corev1.Container{{Name: "app", Command: []string{"sh", "-c", "echo crashing; sleep 3; exit 1"}}},
	})
	gaps := map[int32]time.Duration{}
	waitMsgs := map[int32]string{}
	sawBackOff := false
	pod := lc.waitPod(t, name, 150*time.Second, "three restarts, each gap seen", func(p *corev1.Pod) (bool, string) {
		cs := lcStatus(p.Status.ContainerStatuses, "app")
		if cs == nil {
			return false, "no status"
		}
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			waitMsgs[cs.RestartCount] = w.Message
			sawBackOff = sawBackOff || cs.RestartCount >= 2
		}
		if l := cs.LastTerminationState.Terminated; cs.State.Running != nil && l != nil {
			if l.Reason != "Error" || l.ExitCode != 1 {
				t.Errorf("lastState.terminated = %s %d, want Error 1", l.Reason, l.ExitCode)
			}
			gaps[cs.RestartCount] = cs.State.Running.StartedAt.Sub(l.FinishedAt.Time)
		}
		_, ok2 := gaps[2]
		_, ok3 := gaps[3]
		return ok2 && ok3 && sawBackOff, fmt.Sprintf("%s; gaps %v; CrashLoopBackOff at ≥2 restarts seen %v", lcState(cs), gaps, sawBackOff)
	})
	t.Logf("restart gaps (restartCount: gap): %v", gaps)
	if g2, g3 := gaps[2], gaps[3]; g2 < 8*time.Second || g3 < g2+7*time.Second {
		// Upstream's backoff is 10 s, then 20 s; load only adds to each.
		t.Errorf("gap before restart 2 = %s, before restart 3 = %s; want ≥ 8 s and ≥ 7 s more (10 s doubling to 20 s)", g2, g3)
	}
	if g1, ok := gaps[1]; ok && g1 > 5*time.Second {
		t.Errorf("gap before the first restart = %s, want it at once (upstream backs off from the second)", g1)
	}
	// The waiting message names the whole backoff period, as upstream's does.
	for restarts, want := range map[int32]string{1: "back-off 10s ", 2: "back-off 20s "} {
		if m, ok := waitMsgs[restarts]; ok && !strings.HasPrefix(m, want) {
			t.Errorf("CrashLoopBackOff message at %d restarts = %q, want it to start with %q", restarts, m, want)
		}
	}
	t.Logf("CrashLoopBackOff messages: %v", waitMsgs)
	lc.waitEvent(t, pod, "BackOff")
	if l := lc.logs(t, name, "app"); !strings.Contains(l, "crashing") {
		t.Errorf("logs = %q, want the echo", l)
	}
}

// oomKilled: a container that allocates past its 32 Mi limit is killed by
// the kernel: with restartPolicy Never it shows terminated OOMKilled, exit
// code 137; with OnFailure it restarts and shows that as its lastState.
// Each gets an OOMKilling event (upstream's kubelet has none for a container
// at its own limit; its SystemOOM is for kills outside any container).
func (lc *lcCluster) oomKilled(t *testing.T) {
	spec := func(policy corev1.RestartPolicy) corev1.PodSpec {
		return corev1.PodSpec{
			RestartPolicy: policy,
			Containers: []corev1.Container{{
				Name: "app", Command: []string{"sh", "-c", "echo allocating; head -c 128m /dev/zero | tail"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
			}},
		}
	}
	lc.create(t, "lc-oom", spec(corev1.RestartPolicyNever))
	lc.create(t, "lc-oom-restart", spec(corev1.RestartPolicyOnFailure))
	pod := lc.waitPod(t, "lc-oom", 90*time.Second, "terminated", func(p *corev1.Pod) (bool, string) {
		cs := lcStatus(p.Status.ContainerStatuses, "app")
		return cs != nil && cs.State.Terminated != nil && p.Status.Phase == corev1.PodFailed, fmt.Sprintf("%s %s", p.Status.Phase, lcState(cs))
	})
	if term := lcStatus(pod.Status.ContainerStatuses, "app").State.Terminated; term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("terminated = %s %d (%s), want OOMKilled 137", term.Reason, term.ExitCode, term.Message)
	}
	lc.waitEvent(t, pod, "OOMKilling")
	pod = lc.waitPod(t, "lc-oom-restart", 90*time.Second, "restarted", func(p *corev1.Pod) (bool, string) {
		cs := lcStatus(p.Status.ContainerStatuses, "app")
		return cs != nil && cs.RestartCount >= 1 && cs.LastTerminationState.Terminated != nil && p.Status.Phase == corev1.PodRunning,
			fmt.Sprintf("%s %s", p.Status.Phase, lcState(cs))
	})
	if last := lcStatus(pod.Status.ContainerStatuses, "app").LastTerminationState.Terminated; last.Reason != "OOMKilled" || last.ExitCode != 137 {
		t.Errorf("lastState.terminated = %s %d (%s), want OOMKilled 137", last.Reason, last.ExitCode, last.Message)
	}
}

// readiness: a readiness probe that fails for a while turns the
// container's ready and the pod's Ready condition off, then on again.
func (lc *lcCluster) readiness(t *testing.T) {
	const name = "lc-ready"
	lc.create(t, name, corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "app",
			Command: []string{"sh", "-c",
				"touch /tmp/ready; while true; do sleep 5; rm -f /tmp/ready; sleep 5; touch /tmp/ready; done"},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}},
				PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1,
			},
		}},
	})
	ready := func(want bool) func(*corev1.Pod) (bool, string) {
		return func(p *corev1.Pod) (bool, string) {
			cs := lcStatus(p.Status.ContainerStatuses, "app")
			cond, ctrs := lcCondition(p, corev1.PodReady), lcCondition(p, corev1.ContainersReady)
			return cs != nil && cs.State.Running != nil && cs.Ready == want && (cond == corev1.ConditionTrue) == want && cond == ctrs,
				fmt.Sprintf("%s; Ready %s, ContainersReady %s", lcState(cs), cond, ctrs)
		}
	}
	start := time.Now()
	for i, want := range []bool{true, false, true} {
		lc.waitPod(t, name, 60*time.Second, fmt.Sprintf("step %d: ready %v", i, want), ready(want))
		t.Logf("ready %v after %s", want, time.Since(start).Round(time.Millisecond))
	}
	pod := lc.waitPod(t, name, time.Second, "get", func(*corev1.Pod) (bool, string) { return true, "" })
	if cs := lcStatus(pod.Status.ContainerStatuses, "app"); cs.RestartCount != 0 {
		t.Errorf("restartCount = %d, want 0: readiness never restarts", cs.RestartCount)
	}
	lc.waitEvent(t, pod, "Unhealthy")
}

// liveness: a liveness probe that fails gets the container killed and
// restarted; the restarted container shows the killed one as lastState.
func (lc *lcCluster) liveness(t *testing.T) {
	const name = "lc-live"
	lc.create(t, name, corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:    "app",
			Command: []string{"sh", "-c", "echo alive; touch /tmp/alive; sleep 3; rm /tmp/alive; exec sleep 3600"},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/alive"}}},
				PeriodSeconds: 1, FailureThreshold: 1,
			},
		}},
	})
	pod := lc.waitPod(t, name, 90*time.Second, "restarted by its liveness probe", func(p *corev1.Pod) (bool, string) {
		cs := lcStatus(p.Status.ContainerStatuses, "app")
		return cs != nil && cs.RestartCount >= 1 && cs.State.Running != nil && cs.LastTerminationState.Terminated != nil, lcState(cs)
	})
	cs := lcStatus(pod.Status.ContainerStatuses, "app")
	t.Logf("after the liveness restart: %s", lcState(cs))
	if l := cs.LastTerminationState.Terminated; l.ContainerID == "" || l.ContainerID == cs.ContainerID || l.FinishedAt.IsZero() {
		t.Errorf("lastState.terminated = %+v, want the killed attempt (not %s) with its finish time", l, cs.ContainerID)
	}
	lc.waitEvent(t, pod, "Unhealthy")
	lc.waitEvent(t, pod, "Killing")
}

// initContainers: two init containers run one after the other, each to
// completion, before the app, which sees what they wrote.
func (lc *lcCluster) initContainers(t *testing.T) {
	const name = "lc-init"
	mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	step := func(n string) corev1.Container {
		return corev1.Container{Name: n, VolumeMounts: mount,
			Command: []string{"sh", "-c", "echo " + n + " $(date +%s) >> /work/order; sleep 1"}}
	}
	lc.create(t, name, corev1.PodSpec{
		Volumes:        []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		InitContainers: []corev1.Container{step("first"), step("second")},
		Containers: []corev1.Container{{Name: "app", VolumeMounts: mount,
			Command: []string{"sh", "-c", "cat /work/order; echo app done; exec sleep 3600"}}},
	})
	pod := lc.waitPod(t, name, 90*time.Second, "app running", func(p *corev1.Pod) (bool, string) {
		cs := lcStatus(p.Status.ContainerStatuses, "app")
		return cs != nil && cs.State.Running != nil && p.Status.Phase == corev1.PodRunning, fmt.Sprintf("%s %s", p.Status.Phase, lcState(cs))
	})
	var finished time.Time
	for _, n := range []string{"first", "second"} {
		cs := lcStatus(pod.Status.InitContainerStatuses, n)
		if cs == nil || cs.State.Terminated == nil {
			t.Errorf("init container %s: %s, want terminated", n, lcState(cs))
			continue
		}
		term := cs.State.Terminated
		if term.Reason != "Completed" || term.ExitCode != 0 || !cs.Ready {
			t.Errorf("init container %s: %s, want terminated Completed 0 and ready", n, lcState(cs))
		}
		if term.StartedAt.Before(&metav1.Time{Time: finished}) {
			t.Errorf("init container %s started at %s, before the one before it finished (%s)", n, term.StartedAt, finished)
		}
		finished = term.FinishedAt.Time
	}
	if app := lcStatus(pod.Status.ContainerStatuses, "app"); app.State.Running.StartedAt.Time.Before(finished) {
		t.Errorf("app started at %s, before the last init container finished (%s)", app.State.Running.StartedAt, finished)
	}
	if c := lcCondition(pod, corev1.PodInitialized); c != corev1.ConditionTrue {
		t.Errorf("Initialized = %q, want True", c)
	}
	var logs string
	eventually(t, 30*time.Second, "app logs", func() (bool, string) {
		logs = lc.logs(t, name, "app")
		return strings.Contains(logs, "app done"), logs
	})
	if i, j := strings.Index(logs, "first "), strings.Index(logs, "second "); i < 0 || j < i {
		t.Errorf("app logs = %q, want first's line, then second's", logs)
	}
}

// sidecar: an init container with restartPolicy Always keeps running
// beside the app.
func (lc *lcCluster) sidecar(t *testing.T) {
	const name = "lc-sidecar"
	lc.create(t, name, corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "side", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Command: []string{"sh", "-c", "echo sidecar up; exec sleep 3600"}}},
		Containers: []corev1.Container{{Name: "app", Command: []string{"sh", "-c", "echo app up; exec sleep 3600"}}},
	})
	pod := lc.waitPod(t, name, 90*time.Second, "sidecar and app running", func(p *corev1.Pod) (bool, string) {
		side, app := lcStatus(p.Status.InitContainerStatuses, "side"), lcStatus(p.Status.ContainerStatuses, "app")
		return p.Status.Phase == corev1.PodRunning && side != nil && side.State.Running != nil && app != nil && app.State.Running != nil,
			fmt.Sprintf("%s; side %s; app %s", p.Status.Phase, lcState(side), lcState(app))
	})
	side := lcStatus(pod.Status.InitContainerStatuses, "side")
	if side.Started == nil || !*side.Started || !side.Ready {
		t.Errorf("sidecar started = %v, ready = %v; want both true", side.Started, side.Ready)
	}
	for _, c := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if s := lcCondition(pod, c); s != corev1.ConditionTrue {
			t.Errorf("%s = %q, want True", c, s)
		}
	}
	for c, want := range map[string]string{"side": "sidecar up", "app": "app up"} {
		eventually(t, 30*time.Second, c+" logs", func() (bool, string) {
			l := lc.logs(t, name, c)
			return strings.Contains(l, want), l
		})
	}
}

// statusFields: a running pod's status has what upstream reports for one:
// the node's IP, start time, QoS class, container and image IDs, and the
// four conditions the kubelet owns.
func (lc *lcCluster) statusFields(t *testing.T) {
	const name = "lc-status"
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	lc.create(t, name, corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Command: []string{"sleep", "3600"},
			Resources: corev1.ResourceRequirements{Requests: res, Limits: res}}},
	})
	pod := lc.waitPod(t, name, 90*time.Second, "Ready", func(p *corev1.Pod) (bool, string) {
		return lcCondition(p, corev1.PodReady) == corev1.ConditionTrue, fmt.Sprintf("%s %v", p.Status.Phase, p.Status.Conditions)
	})
	st := pod.Status
	if st.HostIP != "127.0.0.1" || len(st.HostIPs) != 1 || st.HostIPs[0].IP != "127.0.0.1" {
		t.Errorf("hostIP %q, hostIPs %v; want the node IP 127.0.0.1", st.HostIP, st.HostIPs)
	}
	t.Logf("podIP %q, podIPs %v (no CNI yet)", st.PodIP, st.PodIPs)
	if st.StartTime == nil || st.StartTime.After(time.Now()) || st.QOSClass != corev1.PodQOSGuaranteed || st.Phase != corev1.PodRunning {
		t.Errorf("startTime %v, qosClass %q, phase %q; want a start time, Guaranteed, Running", st.StartTime, st.QOSClass, st.Phase)
	}
	cs := lcStatus(st.ContainerStatuses, "app")
	if cs == nil || !strings.HasPrefix(cs.ContainerID, "kubelet-lite://") || cs.ImageID == "" || cs.Image != busybox ||
		cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started {
		t.Errorf("container status %+v, want running, started, ready, with container ID, image and image ID", cs)
	}
	for _, c := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if s := lcCondition(pod, c); s != corev1.ConditionTrue {
			t.Errorf("%s = %q, want True", c, s)
		}
	}
}

// agentRestart: a pod's status outlives the agent: after a restart the
// running attempt keeps its lastState, and the pod its startTime.
func (lc *lcCluster) agentRestart(t *testing.T, a *agent) {
	const name = "lc-restarted"
	// The first attempt fails; the second finds its file and runs on.
	lc.create(t, name, corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		Containers: []corev1.Container{{Name: "app", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			Command: []string{"sh", "-c", "test -f /data/once && exec sleep 3600; touch /data/once; exit 3"}}},
	})
	before := lc.waitPod(t, name, 60*time.Second, "running after one restart", func(p *corev1.Pod) (bool, string) {
		cs := lcStatus(p.Status.ContainerStatuses, "app")
		return cs != nil && cs.RestartCount == 1 && cs.State.Running != nil && cs.LastTerminationState.Terminated != nil, lcState(cs)
	})
	logFile := filepath.Join(a.dir, "agent.log")
	info, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	a.kill()
	a.start()
	// The new agent synced the pod once it logs so; its status goes out
	// within the status manager's batch, so what is read a few seconds
	// later is the new agent's.
	synced := fmt.Sprintf("\"Pod synced\" pod=\"%s/%s\"", lcNamespace, name)
	eventually(t, 60*time.Second, "the restarted agent synced "+name, func() (bool, string) {
		b, err := os.ReadFile(logFile)
		if err != nil || int64(len(b)) < info.Size() {
			return false, fmt.Sprint(err)
		}
		return strings.Contains(string(b[info.Size():]), synced), "no " + synced
	})
	time.Sleep(3 * time.Second)
	after := lc.waitPod(t, name, time.Second, "get", func(*corev1.Pod) (bool, string) { return true, "" })
	bs, as := lcStatus(before.Status.ContainerStatuses, "app"), lcStatus(after.Status.ContainerStatuses, "app")
	t.Logf("before the restart: %s; after: %s", lcState(bs), lcState(as))
	if as.ContainerID != bs.ContainerID || as.State.Running == nil {
		t.Fatalf("container after the agent restarted: %s (%s), want the same attempt running (%s)", lcState(as), as.ContainerID, bs.ContainerID)
	}
	if !equality.Semantic.DeepEqual(as.LastTerminationState, bs.LastTerminationState) {
		t.Errorf("lastState after the agent restarted = %+v, want it kept: %+v", as.LastTerminationState, bs.LastTerminationState)
	}
	if !after.Status.StartTime.Equal(before.Status.StartTime) {
		t.Errorf("startTime after the agent restarted = %s, want it kept: %s", after.Status.StartTime, before.Status.StartTime)
	}
}
