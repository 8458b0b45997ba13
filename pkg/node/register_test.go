package node_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/node"
)

func TestRegisterCreatesNode(t *testing.T) {
	h := newHarness(t, healthyMachine(), func(c *node.Config) {
		c.Labels = map[string]string{"example.com/pool": "a", "kubernetes.io/hostname": "ignored"}
	})
	h.start()
	n := h.node()

	wantLabels := map[string]string{
		"example.com/pool":               "a",
		"kubernetes.io/hostname":         "node-a",
		"kubernetes.io/os":               "linux",
		"kubernetes.io/arch":             runtime.GOARCH,
		"kubelet-lite.io/cgroup-version": "v2",
	}
	if !reflect.DeepEqual(n.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", n.Labels, wantLabels)
	}
	wantAddrs := []corev1.NodeAddress{{Type: "InternalIP", Address: "192.0.2.10"}, {Type: "Hostname", Address: "node-a"}}
	if !reflect.DeepEqual(n.Status.Addresses, wantAddrs) {
		t.Errorf("addresses = %v, want %v", n.Status.Addresses, wantAddrs)
	}
	wantInfo := corev1.NodeSystemInfo{
		MachineID: "mid", SystemUUID: "uuid", BootID: "boot", KernelVersion: "6.1.0-test",
		OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntimeVersion: "kubelet-lite://v0.3.0",
		KubeletVersion: "v0.3.0", OperatingSystem: "linux", Architecture: runtime.GOARCH,
	}
	if n.Status.NodeInfo != wantInfo {
		t.Errorf("nodeInfo = %+v, want %+v", n.Status.NodeInfo, wantInfo)
	}
	if got := n.Status.DaemonEndpoints.KubeletEndpoint.Port; got != 10250 {
		t.Errorf("kubelet port = %d, want 10250", got)
	}
	if got := n.Status.Capacity.Name(corev1.ResourcePods, resource.DecimalSI).Value(); got != 110 {
		t.Errorf("pods capacity = %d, want 110", got)
	}
	wantConds := map[corev1.NodeConditionType][2]string{
		corev1.NodeReady:          {"True", "KubeletReady"},
		corev1.NodeMemoryPressure: {"False", "KubeletHasSufficientMemory"},
		corev1.NodeDiskPressure:   {"False", "KubeletHasNoDiskPressure"},
		corev1.NodePIDPressure:    {"False", "KubeletHasSufficientPID"},
	}
	for typ, want := range wantConds {
		c := findCondition(n, typ)
		if got := [2]string{string(c.Status), c.Reason}; got != want {
			t.Errorf("%s = %v, want %v", typ, got, want)
		}
		if !c.LastTransitionTime.Time.Equal(t0) || !c.LastHeartbeatTime.Time.Equal(t0) {
			t.Errorf("%s times = %v/%v, want both %v", typ, c.LastTransitionTime, c.LastHeartbeatTime, t0)
		}
	}
	if len(n.Status.Conditions) != 4 {
		t.Errorf("conditions = %d, want 4", len(n.Status.Conditions))
	}
	if got := h.machine.Paths(); len(got) == 0 || got[0] != "/var/lib/kubelet-lite" {
		t.Errorf("filesystem read at %v, want /var/lib/kubelet-lite", got)
	}
}

func TestRegisterOverExistingNode(t *testing.T) {
	existing := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: testNode, UID: "uid-old", Labels: map[string]string{
			"kubernetes.io/hostname": "stale", "kubernetes.io/arch": "s390x", "example.com/keep": "yes",
		}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.3.0/24", PodCIDRs: []string{"10.244.3.0/24"}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: "InternalIP", Address: "198.51.100.1"}, {Type: "InternalIP", Address: "198.51.100.2"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: "Unknown", Reason: "NodeStatusUnknown",
				LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}},
		},
	}
	h := newHarness(t, healthyMachine(), nil, existing)
	h.start()
	n := h.node()

	for k, want := range map[string]string{"kubernetes.io/hostname": "node-a", "kubernetes.io/arch": runtime.GOARCH, "example.com/keep": "yes"} {
		if got := n.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if n.Spec.PodCIDR != "10.244.3.0/24" || n.UID != "uid-old" {
		t.Errorf("podCIDR, uid = %q, %q; want 10.244.3.0/24, uid-old", n.Spec.PodCIDR, n.UID)
	}
	wantAddrs := []corev1.NodeAddress{{Type: "InternalIP", Address: "192.0.2.10"}, {Type: "Hostname", Address: "node-a"}}
	if !reflect.DeepEqual(n.Status.Addresses, wantAddrs) {
		t.Errorf("addresses = %v, want %v", n.Status.Addresses, wantAddrs)
	}
	ready := findCondition(n, corev1.NodeReady)
	if ready.Status != "True" || ready.Reason != "KubeletReady" || !ready.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("ready = %s %s since %v, want True KubeletReady since %v", ready.Status, ready.Reason, ready.LastTransitionTime, t0)
	}
	if got := h.ctrl.PodCIDR(); got != "10.244.3.0/24" {
		t.Errorf("PodCIDR() = %q, want 10.244.3.0/24", got)
	}
	if got := h.podCIDRCalls(); !reflect.DeepEqual(got, []string{"10.244.3.0/24"}) {
		t.Errorf("OnPodCIDR calls = %v, want [10.244.3.0/24]", got)
	}
}

func TestRegisterRetriesWithBackoff(t *testing.T) {
	h := newHarness(t, healthyMachine(), nil)
	var attempts atomic.Int32
	h.client.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, k8sruntime.Object, error) {
		if attempts.Add(1) <= 2 {
			return true, nil, errors.New("apiserver unavailable")
		}
		return false, nil, nil
	})
	h.start()
	h.tick(100 * time.Millisecond)
	if _, err := h.client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{}); err == nil {
		t.Fatal("node exists after two failed creates")
	}
	h.tick(200 * time.Millisecond)
	h.node()
	if got := attempts.Load(); got != 3 {
		t.Errorf("create attempts = %d, want 3", got)
	}
}

func TestRegisterAgainAfterNodeDeleted(t *testing.T) {
	h := newHarness(t, healthyMachine(), nil)
	h.start()
	if err := h.client.CoreV1().Nodes().Delete(context.Background(), testNode, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.tick(10 * time.Second)
	n := h.node()
	if got := findCondition(n, corev1.NodeReady); !got.LastTransitionTime.Time.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("re-created node's ready transition = %v, want %v", got.LastTransitionTime, t0.Add(10*time.Second))
	}
}
