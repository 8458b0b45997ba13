//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

// freePort is a free TCP port on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// clusterAgent starts a control plane and the agent as its node, natively
// on this host, with the node's own credentials and serving certificate,
// and extra flags.
func clusterAgent(t *testing.T, extra ...string) (*agent, *cluster.Cluster, kubernetes.Interface) {
	t.Helper()
	c := cluster.Start(t, cluster.Options{})
	a := newAgent(t)
	cert, key := c.NodeServing(t, a.node)
	a.extraArgs = []string{
		"--kubeconfig", c.NodeKubeconfig(t, a.node), "--node-ip", "127.0.0.1",
		"--address", "127.0.0.1", "--port", fmt.Sprint(freePort(t)),
		"--healthz-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--tls-cert-file", cert, "--tls-private-key-file", key, "--client-ca-file", c.CAFile,
	}
	a.extraArgs = append(a.extraArgs, extra...)
	a.start()
	return a, c, cluster.Client(t, c.AdminKubeconfig)
}

// eventually polls cond every 250 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; last: %s", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestClusterNode: the agent joins a real control plane as a Ready node with
// a renewed Lease, runs a Deployment scaled 3 → 5 → 1, serves its logs to
// the apiserver, and leaves nothing behind when it is deleted.
func TestClusterNode(t *testing.T) {
	// Each cluster test has its own control plane and agent, and waits
	// mostly on backoffs and probes: they run side by side.
	t.Parallel()
	a, _, client := clusterAgent(t, "--system-reserved", "cpu=500m,memory=256Mi",
		"--kube-reserved", "memory=128Mi", "--node-labels", "example.com/pool=blue")
	ctx := context.Background()
	start := time.Now()
	eventually(t, 60*time.Second, "node Ready", func() (bool, string) {
		n, err := client.CoreV1().Nodes().Get(ctx, a.node, metav1.GetOptions{})
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
	t.Logf("node Ready %s after the agent started", time.Since(start).Round(time.Millisecond))
	n, err := client.CoreV1().Nodes().Get(ctx, a.node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Allocatable is capacity less the reservations and the 100Mi memory
	// eviction threshold.
	capCPU, capMem := n.Status.Capacity.Cpu().MilliValue(), n.Status.Capacity.Memory().Value()
	if got, want := n.Status.Allocatable.Cpu().MilliValue(), capCPU-500; got != want {
		t.Errorf("allocatable cpu = %dm, want %dm (capacity %dm − 500m system-reserved)", got, want, capCPU)
	}
	if got, want := n.Status.Allocatable.Memory().Value(), capMem-(256+128+100)<<20; got != want {
		t.Errorf("allocatable memory = %d, want %d (capacity %d − 256Mi − 128Mi − 100Mi)", got, want, capMem)
	}
	for k, v := range map[string]string{"example.com/pool": "blue", "kubernetes.io/hostname": a.node, "kubernetes.io/os": "linux"} {
		if n.Labels[k] != v {
			t.Errorf("node label %s = %q, want %q (labels %v)", k, n.Labels[k], v, n.Labels)
		}
	}
	lease, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, a.node, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	first := lease.Spec.RenewTime.Time
	eventually(t, 30*time.Second, "lease renewed", func() (bool, string) {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, a.node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime.After(first), l.Spec.RenewTime.String()
	})

	// A static pod gets a mirror pod in the apiserver, with its status, and
	// loses it when its manifest goes.
	a.writePod("static", podYAML("static", "Always", 1, container("app", "exec sleep 3600", "")))
	mirror := "static-" + a.node
	eventually(t, 60*time.Second, "the static pod's mirror pod Running", func() (bool, string) {
		p, err := client.CoreV1().Pods("default").Get(ctx, mirror, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		_, isMirror := p.Annotations[corev1.MirrorPodAnnotationKey]
		return isMirror && p.Spec.NodeName == a.node && p.Status.Phase == corev1.PodRunning,
			fmt.Sprintf("mirror annotation %v, node %q, phase %s", isMirror, p.Spec.NodeName, p.Status.Phase)
	})
	a.removePod("static")
	eventually(t, 60*time.Second, "the mirror pod gone with its manifest", func() (bool, string) {
		_, err := client.CoreV1().Pods("default").Get(ctx, mirror, metav1.GetOptions{})
		_, onNode := a.pod("static")
		return apierrors.IsNotFound(err) && !onNode, fmt.Sprintf("get: %v, on the node: %v", err, onNode)
	})

	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](2),
					Containers: []corev1.Container{{
						Name: "app", Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"sh", "-c", "echo hello from $(hostname); exec sleep 3600"},
					}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	scaleTo := func(n int32) {
		t.Helper()
		if n != 3 {
			s, err := client.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.Spec.Replicas = n
			if _, err := client.AppsV1().Deployments("default").UpdateScale(ctx, "web", s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 90*time.Second, fmt.Sprintf("%d/%d ready and %d on the node", n, n, n), func() (bool, string) {
			d, err := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			onNode := 0
			for _, p := range a.ps() {
				if p.Namespace == "default" && strings.HasPrefix(p.Name, "web-") && p.SandboxPID > 0 {
					onNode++
				}
			}
			return d.Status.ReadyReplicas == n && d.Status.Replicas == n && onNode == int(n),
				fmt.Sprintf("ready %d of %d, %d on the node", d.Status.ReadyReplicas, d.Status.Replicas, onNode)
		})
	}
	scaleTo(3)
	scaleTo(5)
	scaleTo(1)

	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("list pods: %v (%d)", err, len(pods.Items))
	}
	var pod corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			pod = p
		}
	}
	if pod.Status.Phase != corev1.PodRunning || pod.Status.QOSClass != corev1.PodQOSBestEffort || len(pod.Status.ContainerStatuses) != 1 ||
		pod.Status.ContainerStatuses[0].State.Running == nil || !strings.HasPrefix(pod.Status.ContainerStatuses[0].ContainerID, "kubelet-lite://") {
		t.Errorf("pod status = %+v, want Running, BestEffort, one running container with a kubelet-lite:// ID", pod.Status)
	}
	logs, err := client.CoreV1().Pods("default").GetLogs(pod.Name, &corev1.PodLogOptions{Container: "app"}).Do(ctx).Raw()
	if err != nil || !strings.Contains(string(logs), "hello from "+pod.Name) {
		t.Errorf("logs of %s through the apiserver = %q, %v; want the hello line", pod.Name, logs, err)
	}

	eventually(t, 30*time.Second, "the pod's events", func() (bool, string) {
		evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name})
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]string{}
		for _, e := range evs.Items {
			if e.Source.Component == "kubelet" && e.Source.Host == a.node {
				seen[e.Reason] = e.Message
			}
		}
		want := map[string]string{
			"Pulled":  `Container image "` + busybox + `" already present on machine`,
			"Created": "Created container app",
			"Started": "Started container app",
		}
		for reason, msg := range want {
			if seen[reason] != msg {
				return false, fmt.Sprintf("%v", seen)
			}
		}
		return true, ""
	})

	if err := client.AppsV1().Deployments("default").Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "every web pod gone from the apiserver and the node", func() (bool, string) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0 && len(a.ps()) == 0, fmt.Sprintf("%d in the apiserver, %d on the node", len(pods.Items), len(a.ps()))
	})
	// Nothing of the pods is left while the agent still runs: no pod
	// cgroups, no mounts below its state, no log directories.
	eventually(t, 30*time.Second, "no cgroups, mounts or log dirs of the deleted pods", func() (bool, string) {
		logs, _ := os.ReadDir(a.logDir)
		cg, m := podCgroups(a.cgroupRoot), mountsBelow(a.dir)
		return len(cg) == 0 && len(m) == 0 && len(logs) == 0, fmt.Sprintf("cgroups %v, mounts %v, log dirs %d", cg, m, len(logs))
	})
}
