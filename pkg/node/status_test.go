package node_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/node"
	"github.com/kubelet-lite/kubelet-lite/pkg/node/nodetest"
)

func TestAllocatable(t *testing.T) {
	tests := []struct {
		name           string
		memTotal       int64
		fsCapacity     int64
		maxPods        int
		system, kube   corev1.ResourceList
		wantMilliCPU   int64
		wantMemory     int64
		wantStorage    int64
		wantPods       int64
		wantCapStorage int64
	}{
		{
			name:     "no reservations: only the eviction thresholds",
			memTotal: 8 * gi, fsCapacity: 100 * gi,
			wantMilliCPU: 4000, wantMemory: 8485076992, wantStorage: 96636764160, wantPods: 110, wantCapStorage: 107374182400,
		},
		{
			name:     "system and kube reserved add up",
			memTotal: 8 * gi, fsCapacity: 100 * gi, maxPods: 20,
			system: corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("1Gi")},
			kube: corev1.ResourceList{"cpu": resource.MustParse("250m"), "memory": resource.MustParse("512Mi"),
				"ephemeral-storage": resource.MustParse("10Gi")},
			wantMilliCPU: 3250, wantMemory: 6874464256, wantStorage: 85899345920, wantPods: 20, wantCapStorage: 107374182400,
		},
		{
			name:     "more reserved than there is clamps at zero",
			memTotal: 50 * mi, fsCapacity: 1000,
			system:       corev1.ResourceList{"cpu": resource.MustParse("5")},
			wantMilliCPU: 0, wantMemory: 0, wantStorage: 900, wantPods: 110, wantCapStorage: 1000,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := nodetest.NewMachine(node.Info{NumCPU: 4},
				node.Memory{Total: uint64(tc.memTotal), Available: uint64(tc.memTotal)},
				node.Filesystem{Capacity: uint64(tc.fsCapacity), Available: uint64(tc.fsCapacity)}, node.PIDs{})
			h := newHarness(t, m, func(c *node.Config) {
				c.SystemReserved, c.KubeReserved, c.MaxPods = tc.system, tc.kube, tc.maxPods
			})
			h.start()
			st := h.node().Status
			got := [4]int64{st.Allocatable.Cpu().MilliValue(), st.Allocatable.Memory().Value(),
				st.Allocatable.StorageEphemeral().Value(), st.Allocatable.Pods().Value()}
			if want := [4]int64{tc.wantMilliCPU, tc.wantMemory, tc.wantStorage, tc.wantPods}; got != want {
				t.Errorf("allocatable cpu(m), memory, ephemeral-storage, pods = %v, want %v", got, want)
			}
			// Pods are admitted against what the node reports.
			if alloc, err := h.ctrl.Allocatable(); err != nil || !equality.Semantic.DeepEqual(alloc, st.Allocatable) {
				t.Errorf("Allocatable() = %v, %v; want the reported %v", alloc, err, st.Allocatable)
			}
			gotCap := [3]int64{st.Capacity.Cpu().MilliValue(), st.Capacity.Memory().Value(), st.Capacity.StorageEphemeral().Value()}
			if want := [3]int64{4000, tc.memTotal, tc.wantCapStorage}; gotCap != want {
				t.Errorf("capacity cpu(m), memory, ephemeral-storage = %v, want %v", gotCap, want)
			}
		})
	}
}

// condState is a condition without its heartbeat.
type condState struct {
	Status, Reason, Message string
	Since                   time.Duration // lastTransitionTime − t0
}

func states(n *corev1.Node) map[corev1.NodeConditionType]condState {
	out := map[corev1.NodeConditionType]condState{}
	for _, c := range n.Status.Conditions {
		out[c.Type] = condState{string(c.Status), c.Reason, c.Message, c.LastTransitionTime.Sub(t0)}
	}
	return out
}

func TestConditionTransitions(t *testing.T) {
	h := newHarness(t, healthyMachine(), nil)
	h.start()
	const s = time.Second
	steps := []struct {
		name   string
		change func()
		want   map[corev1.NodeConditionType]condState
	}{
		{
			name: "memory, disk and pids run short",
			change: func() {
				h.machine.SetMemory(node.Memory{Total: uint64(8 * gi), Available: uint64(99 * mi)})
				h.machine.SetFilesystem(node.Filesystem{Capacity: 1000, Available: 99, Inodes: 1000, InodesFree: 900})
				h.machine.SetPIDs(node.PIDs{Running: 3800, Max: 4096})
			},
			want: map[corev1.NodeConditionType]condState{
				"Ready":          {"True", "KubeletReady", "kubelet is posting ready status", 0},
				"MemoryPressure": {"True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available", 10 * s},
				"DiskPressure":   {"True", "KubeletHasDiskPressure", "kubelet has disk pressure", 10 * s},
				"PIDPressure":    {"True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available", 10 * s},
			},
		},
		{
			name: "the runtime fails; disk short of inodes only",
			change: func() {
				h.setReady(errors.New("container runtime is down"))
				h.machine.SetFilesystem(node.Filesystem{Capacity: 1000, Available: 500, Inodes: 1000, InodesFree: 49})
			},
			want: map[corev1.NodeConditionType]condState{
				"Ready":          {"False", "KubeletNotReady", "container runtime is down", 20 * s},
				"MemoryPressure": {"True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available", 10 * s},
				"DiskPressure":   {"True", "KubeletHasDiskPressure", "kubelet has disk pressure", 10 * s},
				"PIDPressure":    {"True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available", 10 * s},
			},
		},
		{
			name:   "the machine cannot be read: NotReady, pressure kept",
			change: func() { h.setReady(nil); h.machine.SetErr(errors.New("no /proc")) },
			want: map[corev1.NodeConditionType]condState{
				"Ready":          {"False", "KubeletNotReady", "read machine info: no /proc", 20 * s},
				"MemoryPressure": {"True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available", 10 * s},
				"DiskPressure":   {"True", "KubeletHasDiskPressure", "kubelet has disk pressure", 10 * s},
				"PIDPressure":    {"True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available", 10 * s},
			},
		},
		{
			name: "all recover",
			change: func() {
				h.machine.SetErr(nil)
				h.machine.SetMemory(node.Memory{Total: uint64(8 * gi), Available: uint64(100 * mi)})
				h.machine.SetFilesystem(node.Filesystem{Capacity: 1000, Available: 100, Inodes: 1000, InodesFree: 50})
				h.machine.SetPIDs(node.PIDs{Running: 3686, Max: 4096})
			},
			want: map[corev1.NodeConditionType]condState{
				"Ready":          {"True", "KubeletReady", "kubelet is posting ready status", 40 * s},
				"MemoryPressure": {"False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", 40 * s},
				"DiskPressure":   {"False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", 40 * s},
				"PIDPressure":    {"False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", 40 * s},
			},
		},
	}
	for i, step := range steps {
		step.change()
		h.tick(10 * time.Second)
		n := h.node()
		if got := states(n); !reflect.DeepEqual(got, step.want) {
			t.Errorf("step %d (%s):\n got %v\nwant %v", i, step.name, got, step.want)
		}
		now := t0.Add(time.Duration(i+1) * 10 * time.Second)
		for _, c := range n.Status.Conditions {
			if !c.LastHeartbeatTime.Time.Equal(now) {
				t.Errorf("step %d: %s heartbeat = %v, want %v", i, c.Type, c.LastHeartbeatTime, now)
			}
		}
	}
}

func TestStatusPatchedWhenChangedAndEveryFiveMinutes(t *testing.T) {
	h := newHarness(t, healthyMachine(), nil)
	h.start()
	for i := 1; i < 30; i++ {
		h.tick(10 * time.Second)
	}
	if got := h.statusPatches(); len(got) != 0 {
		t.Fatalf("%d status patches in 290 s of an unchanged node, want 0; first: %s", len(got), got[0])
	}
	h.tick(10 * time.Second) // 300 s since registration
	if got := len(h.statusPatches()); got != 1 {
		t.Fatalf("status patches after 300 s = %d, want 1", got)
	}
	if hb := findCondition(h.node(), corev1.NodeReady).LastHeartbeatTime.Time; !hb.Equal(t0.Add(300 * time.Second)) {
		t.Errorf("ready heartbeat = %v, want %v", hb, t0.Add(300*time.Second))
	}
	h.tick(10 * time.Second)
	if got := len(h.statusPatches()); got != 1 {
		t.Fatalf("status patches 10 s after the report = %d, want 1", got)
	}
	h.machine.SetMemory(node.Memory{Total: uint64(8 * gi), Available: uint64(10 * mi)})
	h.tick(10 * time.Second)
	patches := h.statusPatches()
	if len(patches) != 2 {
		t.Fatalf("status patches after memory pressure = %d, want 2", len(patches))
	}
	for _, p := range patches {
		if strings.Contains(p, `"spec"`) {
			t.Errorf("status patch touches spec: %s", p)
		}
	}
}

func TestPodCIDRPickedUp(t *testing.T) {
	h := newHarness(t, healthyMachine(), nil)
	h.start()
	if got := h.ctrl.PodCIDR(); got != "" {
		t.Fatalf("PodCIDR() before assignment = %q, want empty", got)
	}
	// The controller-manager assigns a range.
	n := h.node()
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.7.0/24", []string{"10.244.7.0/24"}
	if _, err := h.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.machine.SetMemory(node.Memory{Total: uint64(8 * gi), Available: uint64(10 * mi)}) // forces a patch
	h.tick(10 * time.Second)
	h.tick(10 * time.Second)
	if got := h.ctrl.PodCIDR(); got != "10.244.7.0/24" {
		t.Errorf("PodCIDR() = %q, want 10.244.7.0/24", got)
	}
	if got := h.podCIDRCalls(); !reflect.DeepEqual(got, []string{"10.244.7.0/24"}) {
		t.Errorf("OnPodCIDR calls = %v, want [10.244.7.0/24]", got)
	}
	if got := h.node().Spec.PodCIDR; got != "10.244.7.0/24" {
		t.Errorf("spec.podCIDR after status patches = %q, want 10.244.7.0/24", got)
	}
}

func TestLeaseCreatedAndRenewed(t *testing.T) {
	h := newHarness(t, healthyMachine(), nil)
	h.start()
	h.eventually("lease exists", func() bool { _, err := h.lease(); return err == nil })
	l, _ := h.lease()
	if got := *l.Spec.HolderIdentity; got != testNode {
		t.Errorf("holder = %q, want %q", got, testNode)
	}
	if got := *l.Spec.LeaseDurationSeconds; got != 40 {
		t.Errorf("lease duration = %d, want 40", got)
	}
	wantOwner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: testNode, UID: "uid-1"}}
	if !reflect.DeepEqual(l.OwnerReferences, wantOwner) {
		t.Errorf("owners = %v, want %v", l.OwnerReferences, wantOwner)
	}
	if !l.Spec.RenewTime.Time.Equal(t0) {
		t.Errorf("renew time = %v, want %v", l.Spec.RenewTime, t0)
	}
	h.tick(10 * time.Second)
	renewed := t0.Add(10 * time.Second)
	h.eventually("lease renewed at the clock's new time", func() bool {
		l, err := h.lease()
		return err == nil && l.Spec.RenewTime.Time.Equal(renewed)
	})
}
