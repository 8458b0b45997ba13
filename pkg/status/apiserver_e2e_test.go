//go:build e2e

package status_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
	"github.com/kubelet-lite/kubelet-lite/pkg/status"
	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

const nodeName = "status-node"

// TestStatusAgainstTheAPIServer runs the API pod source, the mirror pods and
// the status manager with a node's credentials against the real control
// plane (Node authorizer, NodeRestriction), through a loopback proxy that the
// test cuts to play an apiserver outage.
func TestStatusAgainstTheAPIServer(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin := cluster.Client(t, c.AdminKubeconfig)
	cfg := cluster.RESTConfig(t, c.NodeKubeconfig(t, nodeName))
	proxy := startProxy(t, cfg.Host)
	cfg.Host = "https://" + proxy.addr
	node := kubernetes.NewForConfigOrDie(cfg)
	if _, err := node.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node creates its Node: %v", err)
	}

	src := &podsource.API{Client: node, NodeName: nodeName}
	sets := make(chan []*corev1.Pod, 64)
	go func() {
		if err := src.Run(ctx, func(p []*corev1.Pod) { sets <- p }); err != nil {
			t.Errorf("API source: %v", err)
		}
	}()
	m, err := status.New(status.Config{Client: node, NodeName: nodeName, HostIPs: []string{"127.0.0.1"}, Pods: src, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)

	web := createPod(ctx, t, admin, "web")
	got := waitForPod(ctx, t, sets, web.UID)
	if got.Annotations[podsource.ConfigSourceAnnotation] != podsource.APISource {
		t.Errorf("source annotation = %q, want api", got.Annotations[podsource.ConfigSourceAnnotation])
	}

	t.Run("status reaches the apiserver", func(t *testing.T) {
		_ = m.Set(got, running(0))
		p := waitFor(ctx, t, admin, "web", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		var conds []string
		for _, cd := range p.Status.Conditions {
			conds = append(conds, string(cd.Type)+"="+string(cd.Status))
		}
		slices.Sort(conds)
		if want := []string{"ContainersReady=True", "Initialized=True", "PodReadyToStartContainers=True", "Ready=True"}; !slices.Equal(conds, want) {
			t.Errorf("conditions %q, want %q", conds, want)
		}
		if p.Status.HostIP != "127.0.0.1" || p.Status.PodIP != "10.244.0.5" {
			t.Errorf("hostIP %q podIP %q, want 127.0.0.1 and 10.244.0.5", p.Status.HostIP, p.Status.PodIP)
		}
	})

	t.Run("statuses set during an outage arrive after it", func(t *testing.T) {
		proxy.setDown(true)
		for i := range int32(5) {
			_ = m.Set(got, running(i+1))
		}
		time.Sleep(3 * time.Second)
		if m.Unsent() == 0 {
			t.Fatal("status sent while the apiserver was unreachable")
		}
		proxy.setDown(false)
		waitFor(ctx, t, admin, "web", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 5
		})
	})

	t.Run("the UID precondition keeps an old pod's status off a new one", func(t *testing.T) {
		if err := admin.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitGone(ctx, t, admin, "web")
		fresh := createPod(ctx, t, admin, "web")
		_ = m.Set(got, corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Old"})
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return m.Unsent() == 0, nil
		}); err != nil {
			t.Fatal("the old pod's status was neither sent nor given up")
		}
		p, err := admin.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.UID != fresh.UID || p.Status.Phase == corev1.PodFailed {
			t.Errorf("new pod %s has phase %s; the old pod's status leaked onto it", p.UID, p.Status.Phase)
		}
	})

	t.Run("a cleaned-up pod being deleted is deleted with grace 0", func(t *testing.T) {
		p, err := admin.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := admin.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, admin, "web", func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
		_ = m.Delete(p.UID) // never Set: found by listing the node's pods
		waitGone(ctx, t, admin, "web")
	})

	t.Run("a static pod gets a mirror pod that carries its status", func(t *testing.T) {
		static := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "static-" + nodeName, Namespace: "default", UID: "static-hash-1",
				Annotations: map[string]string{podsource.ConfigSourceAnnotation: "file", podsource.ConfigHashAnnotation: "static-hash-1"}},
			Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Image: "kubelet-lite.local/busybox:v1"}}},
		}
		mirrors := &podsource.Mirrors{Client: node, NodeName: nodeName}
		if err := mirrors.Sync(ctx, []*corev1.Pod{static}); err != nil {
			t.Fatalf("create mirror: %v", err)
		}
		_ = m.Set(static, running(0))
		p := waitFor(ctx, t, admin, static.Name, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if p.Annotations[podsource.ConfigMirrorAnnotation] != "static-hash-1" || p.OwnerReferences[0].Kind != "Node" {
			t.Errorf("mirror annotations %v owners %v", p.Annotations, p.OwnerReferences)
		}
		if err := mirrors.Sync(ctx, nil); err != nil {
			t.Fatalf("delete mirror: %v", err)
		}
		waitGone(ctx, t, admin, static.Name)
	})
}

func running(restarts int32) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5", QOSClass: corev1.PodQOSBestEffort,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "kubelet-lite.local/busybox:v1", Ready: true, Started: ptr.To(true),
			RestartCount: restarts, ContainerID: "kubelet-lite://abc",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}}}
}

// createPod creates a pod bound to the node, retrying while the namespace's
// default service account does not exist yet.
func createPod(ctx context.Context, t *testing.T, c kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: nodeName, AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "app", Image: "kubelet-lite.local/busybox:v1"}}},
	}
	var created *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		created, err = c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Logf("create pod %s: %v (retrying)", name, err)
		}
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return created
}

func waitForPod(ctx context.Context, t *testing.T, sets <-chan []*corev1.Pod, uid interface{}) *corev1.Pod {
	t.Helper()
	for {
		select {
		case set := <-sets:
			for _, p := range set {
				if p.UID == uid {
					return p
				}
			}
		case <-ctx.Done():
			t.Fatalf("the API source never reported pod %v", uid)
		}
	}
}

func waitFor(ctx context.Context, t *testing.T, c kubernetes.Interface, name string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return ok(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s: condition not met within 30s; last status %+v", name, last)
	}
	return last
}

func waitGone(ctx context.Context, t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod %s still exists after 30s", name)
	}
}

// proxy forwards loopback TCP connections to the apiserver; while down it
// drops every connection, as a stopped apiserver would.
type proxy struct {
	addr string
	mu   sync.Mutex
	down bool
	open map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	host := target
	if u, ok := cutScheme(target); ok {
		host = u
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), open: map[net.Conn]bool{}}
	t.Cleanup(func() { l.Close(); p.setDown(true) })
	go func() {
		for {
			in, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			go p.serve(in, host)
		}
	}()
	return p
}

func cutScheme(u string) (string, bool) {
	for _, s := range []string{"https://", "http://"} {
		if len(u) > len(s) && u[:len(s)] == s {
			return u[len(s):], true
		}
	}
	return u, false
}

func (p *proxy) serve(in net.Conn, target string) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		in.Close()
		return
	}
	out, err := net.Dial("tcp", target)
	if err != nil {
		in.Close()
		return
	}
	p.mu.Lock()
	p.open[in], p.open[out] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(out, in); out.Close() }()
	_, _ = io.Copy(in, out)
	in.Close()
	p.mu.Lock()
	delete(p.open, in)
	delete(p.open, out)
	p.mu.Unlock()
}

// setDown cuts or restores the apiserver; cutting closes open connections.
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.open {
			c.Close()
		}
	}
}
