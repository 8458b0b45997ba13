package node_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/node"
	"github.com/kubelet-lite/kubelet-lite/pkg/node/nodetest"
)

const (
	testNode = "node-a"
	gi       = int64(1) << 30
	mi       = int64(1) << 20
)

// t0 is the fake clock's start, a whole second so metav1.Time round trips.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// healthyMachine has 4 CPUs, 8Gi of memory (6Gi available), a 100Gi
// filesystem (50Gi available) and 1000 of 4194304 tasks.
func healthyMachine() *nodetest.Machine {
	return nodetest.NewMachine(
		node.Info{NumCPU: 4, MachineID: "mid", SystemUUID: "uuid", BootID: "boot", KernelVersion: "6.1.0-test", OSImage: "Debian GNU/Linux 12 (bookworm)"},
		node.Memory{Total: uint64(8 * gi), Available: uint64(6 * gi)},
		node.Filesystem{Capacity: uint64(100 * gi), Available: uint64(50 * gi), Inodes: 1000, InodesFree: 900},
		node.PIDs{Running: 1000, Max: 4194304},
	)
}

// harness runs a Controller on a fake clientset and a fake clock.
type harness struct {
	t       *testing.T
	client  *fake.Clientset
	clock   *testingclock.FakeClock
	machine *nodetest.Machine
	ctrl    *node.Controller

	mu       sync.Mutex
	ready    error
	podCIDRs []string
}

// newHarness returns a harness whose Node gets UID "uid-1" on creation.
// objects are preloaded into the clientset.
func newHarness(t *testing.T, machine *nodetest.Machine, mutate func(*node.Config), objects ...runtime.Object) *harness {
	t.Helper()
	h := &harness{t: t, client: fake.NewClientset(objects...), clock: testingclock.NewFakeClock(t0), machine: machine}
	h.client.PrependReactor("create", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(*corev1.Node).UID = types.UID("uid-1")
		return false, nil, nil
	})
	cfg := node.Config{
		Client:             h.client,
		NodeName:           testNode,
		NodeIP:             net.ParseIP("192.0.2.10"),
		RootDir:            "/var/lib/kubelet-lite",
		Version:            "v0.3.0",
		CgroupVersion:      "v2",
		Machine:            machine,
		Clock:              h.clock,
		LeaseRenewInterval: 20 * time.Millisecond,
		Ready: func() error {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.ready
		},
		OnPodCIDR: func(cidr string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.podCIDRs = append(h.podCIDRs, cidr)
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctrl, err := node.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.ctrl = ctrl
	return h
}

// start runs the controller until the test ends and waits until it has
// registered and sleeps on the clock.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ctrl.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Error("Run did not return after its context ended")
		}
	})
	h.waitIdle()
}

// waitIdle waits until the controller sleeps on the fake clock.
func (h *harness) waitIdle() {
	h.t.Helper()
	h.eventually("controller waits on the clock", func() bool { return h.clock.HasWaiters() })
}

// tick moves the clock by d and waits until the controller sleeps again.
func (h *harness) tick(d time.Duration) {
	h.t.Helper()
	h.waitIdle()
	h.clock.Step(d)
	h.waitIdle()
}

func (h *harness) setReady(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready = err
}

func (h *harness) podCIDRCalls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.podCIDRs...)
}

// eventually polls cond on the real clock for up to 10 s.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		h.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (h *harness) node() *corev1.Node {
	h.t.Helper()
	n, err := h.client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("get node: %v", err)
	}
	return n
}

func (h *harness) lease() (*coordinationv1.Lease, error) {
	return h.client.CoordinationV1().Leases(node.LeaseNamespace).Get(context.Background(), testNode, metav1.GetOptions{})
}

// statusPatches returns the bodies of the patches sent to nodes/status.
func (h *harness) statusPatches() []string {
	var out []string
	for _, a := range h.client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "nodes" && a.GetSubresource() == "status" {
			out = append(out, string(p.GetPatch()))
		}
	}
	return out
}

func findCondition(n *corev1.Node, t corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.NodeCondition{}
}
