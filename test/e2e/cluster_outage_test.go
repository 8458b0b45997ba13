//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestClusterAPIServerOutage: the kube-apiserver stops for a minute while
// the node runs pods, and one container exits and restarts, another
// completes, once it is down. The agent keeps running, the pods keep their
// containers, and once the apiserver is back the node is Ready with a
// renewed Lease and the pod statuses tell what happened during the outage.
func TestClusterAPIServerOutage(t *testing.T) {
	// Each cluster test has its own control plane and agent, and waits
	// mostly on backoffs and probes: they run side by side.
	t.Parallel()
	a, c, client := clusterAgent(t)
	lgCleanupPods(t, a, client)
	ctx := context.Background()
	lgWaitNodeReady(t, client, a.node, 90*time.Second)
	lgWaitDefaultServiceAccount(t, client)

	// Once the test touches /data/go (in their emptyDir), restarter exits 1
	// on its first run and sleeps on the next (a run counter in the
	// emptyDir), and completer exits 0.
	const waitGo = `until [ -f /data/go ]; do sleep 0.2; done; `
	// restarter's environment comes from a ConfigMap, which its restart
	// during the outage needs.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "greeting", Namespace: "default"}, Data: map[string]string{"GREETING": "hello"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	restarter := lgPod("restarter", corev1.RestartPolicyAlways,
		`n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo "run $n $GREETING"; `+
			`if [ $n -ge 2 ]; then exec sleep 3600; fi; `+waitGo+`exit 1`)
	restarter.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "greeting"}}}}
	completer := lgPod("completer", corev1.RestartPolicyOnFailure, `echo working; `+waitGo+`echo done`)
	steady := lgPod("steady", corev1.RestartPolicyAlways, `echo steady; exec sleep 3600`)
	for _, p := range []*corev1.Pod{steady, restarter, completer} {
		p.Spec.NodeName = a.node
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"steady", "restarter", "completer"} {
		lgWaitPod(t, client, name, 90*time.Second, "running", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
		})
	}
	before := map[string]containerState{}
	for _, name := range []string{"steady", "restarter", "completer"} {
		before[name] = lgContainer(t, a, name)
	}

	stopped := time.Now()
	c.StopAPIServer(t)
	t.Logf("apiserver stopped in %s", time.Since(stopped).Round(time.Millisecond))
	stopped = time.Now()
	for _, name := range []string{"restarter", "completer"} {
		if out, err := a.nsenter(before[name].PID, "touch", "/data/go"); err != nil {
			t.Fatalf("touch /data/go in %s: %v: %s", name, err, out)
		}
	}

	// Meanwhile: restarter runs again (attempt 1), completer has exited 0,
	// steady keeps its container, the agent keeps running.
	deadline := stopped.Add(60 * time.Second)
	var seenRestart, seenComplete time.Time
	for time.Now().Before(deadline) || seenRestart.IsZero() || seenComplete.IsZero() {
		if !a.alive() {
			t.Fatalf("agent exited during the outage\n%s", a.log())
		}
		if s := lgContainer(t, a, "steady"); s.ID != before["steady"].ID || s.PID != before["steady"].PID || !running(s) {
			t.Fatalf("steady's container changed during the outage: %+v, was %+v", s, before["steady"])
		}
		if r := lgContainer(t, a, "restarter"); seenRestart.IsZero() && r.Attempt == 1 && running(r) {
			seenRestart = time.Now()
		}
		if cs := lgContainer(t, a, "completer"); seenComplete.IsZero() && cs.State == "exited" && cs.ExitCode == 0 {
			seenComplete = time.Now()
		}
		if time.Since(stopped) > 3*time.Minute {
			t.Fatalf("during the outage: restarter restarted %v, completer completed %v after 3 min", !seenRestart.IsZero(), !seenComplete.IsZero())
		}
		time.Sleep(time.Second)
	}
	t.Logf("during the outage: completer exited after %s, restarter ran again after %s",
		seenComplete.Sub(stopped).Round(time.Second), seenRestart.Sub(stopped).Round(time.Second))

	// back is when the apiserver process starts again; the agent may reach
	// it before its /readyz says ok, which StartAPIServer waits for.
	back := time.Now()
	c.StartAPIServer(t)
	t.Logf("apiserver back after an outage of %s, ready %s after its start", back.Sub(stopped).Round(time.Second), time.Since(back).Round(time.Millisecond))

	lgWaitPod(t, client, "restarter", 30*time.Second, "restart count 1, last state exit code 1, running", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		s := p.Status.ContainerStatuses[0]
		return s.RestartCount == 1 && s.State.Running != nil &&
			s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode == 1
	})
	t.Logf("restarter's status caught up %s after the apiserver started again", time.Since(back).Round(time.Millisecond))
	lgWaitPod(t, client, "completer", 30*time.Second, "Succeeded, exit code 0", func(p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodSucceeded || len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		term := p.Status.ContainerStatuses[0].State.Terminated
		return term != nil && term.ExitCode == 0 && term.Reason == "Completed"
	})
	t.Logf("completer's status caught up %s after the apiserver started again", time.Since(back).Round(time.Millisecond))
	caughtUp := time.Since(back)
	if caughtUp > 30*time.Second {
		t.Errorf("statuses caught up %s after the apiserver started again, want within 30 s", caughtUp)
	}

	p, err := client.CoreV1().Pods("default").Get(ctx, "steady", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Status.ContainerStatuses; p.Status.Phase != corev1.PodRunning || len(s) != 1 || s[0].RestartCount != 0 ||
		s[0].ContainerID != "kubelet-lite://"+before["steady"].ID {
		t.Errorf("steady after the outage: phase %s, statuses %+v; want Running, restart count 0, container %s", p.Status.Phase, s, before["steady"].ID)
	}
	if s := lgContainer(t, a, "steady"); s.ID != before["steady"].ID || s.PID != before["steady"].PID {
		t.Errorf("steady's container after the outage = %+v, was %+v", s, before["steady"])
	}
	if r := lgContainer(t, a, "restarter"); r.ID == before["restarter"].ID {
		t.Errorf("restarter still has its first container %s after the outage", r.ID)
	}
	if out, err := lgKubectlErr(c, "logs", "restarter"); err != nil || out != "run 2 hello\n" {
		t.Errorf("restarter's log after the outage = %q, %v; want its second run with the ConfigMap's greeting", out, err)
	}

	lgWaitNodeReady(t, client, a.node, 60*time.Second)
	eventually(t, 60*time.Second, "lease renewed after the apiserver returned", func() (bool, string) {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, a.node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime != nil && l.Spec.RenewTime.After(back), fmt.Sprint(l.Spec.RenewTime)
	})
	t.Logf("node Ready with a renewed lease %s after the apiserver started again", time.Since(back).Round(time.Millisecond))
	if !a.alive() {
		t.Fatalf("agent exited\n%s", a.log())
	}
}

// lgPod is a one-container busybox pod in default running script, with an
// emptyDir at /data.
func lgPod(name string, restart corev1.RestartPolicy, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 restart,
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "app", Image: busybox, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// lgWaitPod waits until the API pod default/name satisfies ok.
func lgWaitPod(t *testing.T, client kubernetes.Interface, name string, timeout time.Duration, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, timeout, name+": "+what, func() (bool, string) {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return ok(p), fmt.Sprintf("phase %s reason %q statuses %+v", p.Status.Phase, p.Status.Reason, p.Status.ContainerStatuses)
	})
	return pod
}

// lgContainer is the runtime's container "app" of the API pod default/name.
func lgContainer(t *testing.T, a *agent, name string) containerState {
	t.Helper()
	for _, p := range a.ps() {
		if p.Namespace == "default" && p.Name == name {
			if c, ok := p.container("app"); ok {
				return c
			}
		}
	}
	t.Fatalf("the node runs no container app of pod %s", name)
	return containerState{}
}

// lgCleanupPods deletes, when the test ends (before the agent's own
// cleanup), every pod in namespace default and waits until the node has
// removed them, so that the agent stops with no pod left.
func lgCleanupPods(t *testing.T, a *agent, client kubernetes.Interface) {
	t.Cleanup(func() {
		ctx := context.Background()
		err := client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		if err != nil {
			t.Errorf("delete the test's pods: %v", err)
			return
		}
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err == nil && len(pods.Items) == 0 && len(a.ps()) == 0 {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Errorf("pods left 90 s after they were deleted: %d on the node", len(a.ps()))
	})
}

// lgWaitDefaultServiceAccount waits until the controller-manager has made
// namespace default's service account, without which no pod is admitted.
func lgWaitDefaultServiceAccount(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	eventually(t, 60*time.Second, "service account default/default", func() (bool, string) {
		_, err := client.CoreV1().ServiceAccounts("default").Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// lgWaitNodeReady waits until the node's Ready condition is True.
func lgWaitNodeReady(t *testing.T, client kubernetes.Interface, node string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "node Ready", func() (bool, string) {
		n, err := client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
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
}
