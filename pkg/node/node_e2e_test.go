//go:build e2e

package node_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelet-lite/kubelet-lite/pkg/node"
	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

// e2eNode runs a Controller as node e2e-node with the node's own
// credentials (system:node:e2e-node, so the Node authorizer and
// NodeRestriction apply) on the real machine's facts.
type e2eNode struct {
	ctrl   *node.Controller
	cancel context.CancelFunc
	done   chan error
	once   sync.Once

	mu       sync.Mutex
	readyErr error
}

const e2eNodeName = "e2e-node"

func startE2ENode(t *testing.T, client kubernetes.Interface, rootDir string) *e2eNode {
	t.Helper()
	n := &e2eNode{done: make(chan error, 1)}
	ctrl, err := node.New(node.Config{
		Client:             client,
		NodeName:           e2eNodeName,
		NodeIP:             net.ParseIP("127.0.0.1"),
		Labels:             map[string]string{"example.com/pool": "e2e"},
		KubeReserved:       corev1.ResourceList{"cpu": resource.MustParse("100m")},
		RootDir:            rootDir,
		Version:            "v0.0.0-e2e",
		StatusInterval:     time.Second,
		LeaseRenewInterval: time.Second,
		Ready: func() error {
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.readyErr
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.ctrl = ctrl
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- ctrl.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

// stop ends Run and waits for it; it may be called more than once.
func (n *e2eNode) stop() {
	n.once.Do(func() {
		n.cancel()
		<-n.done
	})
}

func (n *e2eNode) setReady(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.readyErr = err
}

// TestNodeOnRealControlPlane registers a node with its own credentials and
// checks what the fake clientset cannot: NodeRestriction accepts the labels
// and the status patches, the Node authorizer lets it own its Lease, the
// controller-manager's pod CIDR arrives, and a restarted controller
// re-registers over the existing Node.
func TestNodeOnRealControlPlane(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	admin := cluster.Client(t, c.AdminKubeconfig)
	nodeClient := cluster.Client(t, c.NodeKubeconfig(t, e2eNodeName))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rootDir := t.TempDir()
	n := startE2ENode(t, nodeClient, rootDir)

	var first *corev1.Node
	t.Run("registers Ready with labels, capacity and allocatable", func(t *testing.T) {
		first = waitNode(ctx, t, admin, "Ready", func(nd *corev1.Node) bool { return readyOf(nd) == corev1.ConditionTrue })
		for k, want := range map[string]string{
			"kubernetes.io/hostname": e2eNodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH,
			"example.com/pool": "e2e",
		} {
			if got := first.Labels[k]; got != want {
				t.Errorf("label %s = %q, want %q", k, got, want)
			}
		}
		if v := first.Labels[node.LabelCgroupVersion]; v != "v1" && v != "v2" {
			t.Errorf("cgroup version label = %q, want v1 or v2", v)
		}
		mem, err := node.Host{}.Memory()
		if err != nil {
			t.Fatal(err)
		}
		st := first.Status
		if got, want := st.Capacity.Cpu().MilliValue(), int64(runtime.NumCPU())*1000; got != want {
			t.Errorf("cpu capacity = %dm, want %dm", got, want)
		}
		if got, want := st.Allocatable.Cpu().MilliValue(), int64(runtime.NumCPU())*1000-100; got != want {
			t.Errorf("cpu allocatable = %dm, want %dm", got, want)
		}
		if got, want := st.Allocatable.Memory().Value(), int64(mem.Total)-100<<20; got != want {
			t.Errorf("memory allocatable = %d, want MemTotal−100Mi = %d", got, want)
		}
		if got := st.NodeInfo.KubeletVersion; got != "v0.0.0-e2e" {
			t.Errorf("kubeletVersion = %q", got)
		}
	})

	t.Run("lease is owned by the Node and renewed", func(t *testing.T) {
		var renew time.Time
		waitFor(ctx, t, "lease with an owner", func() bool {
			l, err := admin.CoordinationV1().Leases(node.LeaseNamespace).Get(ctx, e2eNodeName, metav1.GetOptions{})
			if err != nil || len(l.OwnerReferences) != 1 || l.Spec.RenewTime == nil {
				return false
			}
			if l.OwnerReferences[0].UID != first.UID || *l.Spec.HolderIdentity != e2eNodeName {
				t.Fatalf("lease owner %v holder %q, want node UID %s and %s", l.OwnerReferences, *l.Spec.HolderIdentity, first.UID, e2eNodeName)
			}
			renew = l.Spec.RenewTime.Time
			return true
		})
		waitFor(ctx, t, "lease renewed", func() bool {
			l, err := admin.CoordinationV1().Leases(node.LeaseNamespace).Get(ctx, e2eNodeName, metav1.GetOptions{})
			return err == nil && l.Spec.RenewTime.Time.After(renew)
		})
	})

	t.Run("picks up the pod CIDR the controller-manager assigns", func(t *testing.T) {
		nd := waitNode(ctx, t, admin, "spec.podCIDR", func(nd *corev1.Node) bool { return nd.Spec.PodCIDR != "" })
		waitFor(ctx, t, "PodCIDR() = "+nd.Spec.PodCIDR, func() bool { return n.ctrl.PodCIDR() == nd.Spec.PodCIDR })
	})

	t.Run("Ready follows the runtime", func(t *testing.T) {
		n.setReady(errors.New("runtime is down"))
		nd := waitNode(ctx, t, admin, "NotReady", func(nd *corev1.Node) bool { return readyOf(nd) == corev1.ConditionFalse })
		if c := condOf(nd, corev1.NodeReady); c.Reason != "KubeletNotReady" || c.Message != "runtime is down" {
			t.Errorf("ready = %s %q, want KubeletNotReady \"runtime is down\"", c.Reason, c.Message)
		}
		n.setReady(nil)
		waitNode(ctx, t, admin, "Ready again", func(nd *corev1.Node) bool { return readyOf(nd) == corev1.ConditionTrue })
	})

	t.Run("a restarted controller re-registers over the Node", func(t *testing.T) {
		n.stop()
		// Someone changed a default label meanwhile.
		patch := []byte(`{"metadata":{"labels":{"kubernetes.io/hostname":"stale"}}}`)
		if _, err := admin.CoreV1().Nodes().Patch(ctx, e2eNodeName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		n2 := startE2ENode(t, nodeClient, rootDir)
		nd := waitNode(ctx, t, admin, "hostname label restored", func(nd *corev1.Node) bool {
			return nd.Labels["kubernetes.io/hostname"] == e2eNodeName
		})
		if nd.UID != first.UID || nd.Spec.PodCIDR == "" || nd.Labels["example.com/pool"] != "e2e" {
			t.Errorf("uid %s podCIDR %q pool %q; want uid %s, a pod CIDR, pool e2e", nd.UID, nd.Spec.PodCIDR, nd.Labels["example.com/pool"], first.UID)
		}
		waitFor(ctx, t, "PodCIDR() after restart", func() bool { return n2.ctrl.PodCIDR() == nd.Spec.PodCIDR })
	})
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func waitNode(ctx context.Context, t *testing.T, c kubernetes.Interface, what string, ok func(*corev1.Node) bool) *corev1.Node {
	t.Helper()
	var got *corev1.Node
	waitFor(ctx, t, "node "+what, func() bool {
		nd, err := c.CoreV1().Nodes().Get(ctx, e2eNodeName, metav1.GetOptions{})
		if err != nil || !ok(nd) {
			return false
		}
		got = nd
		return true
	})
	return got
}

func condOf(nd *corev1.Node, typ corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range nd.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func readyOf(nd *corev1.Node) corev1.ConditionStatus { return condOf(nd, corev1.NodeReady).Status }
