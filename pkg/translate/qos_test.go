package translate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestQOSClass(t *testing.T) {
	cases := []struct {
		name string
		pod  *corev1.Pod
		want corev1.PodQOSClass
	}{
		{"nil pod", nil, corev1.PodQOSBestEffort},
		{"no resources", mkPod(nil, ctr("a", "", "")), corev1.PodQOSBestEffort},
		{"only ephemeral-storage", mkPod(nil, ctr("a", "ephemeral-storage=1Gi", "ephemeral-storage=1Gi")), corev1.PodQOSBestEffort},
		{"requests equal limits", mkPod(nil, ctr("a", "cpu=1,memory=1Gi", "cpu=1,memory=1Gi")), corev1.PodQOSGuaranteed},
		{"limits only", mkPod(nil, ctr("a", "", "cpu=1,memory=1Gi")), corev1.PodQOSGuaranteed},
		{"same value, different units", mkPod(nil, ctr("a", "cpu=1000m,memory=1024Mi", "cpu=1,memory=1Gi")), corev1.PodQOSGuaranteed},
		{"cpu request below limit", mkPod(nil, ctr("a", "cpu=500m,memory=1Gi", "cpu=1,memory=1Gi")), corev1.PodQOSBurstable},
		{"memory limit missing", mkPod(nil, ctr("a", "", "cpu=1")), corev1.PodQOSBurstable},
		{"one of two containers without limits", mkPod(nil, ctr("a", "", "cpu=1,memory=1Gi"), ctr("b", "", "")), corev1.PodQOSBurstable},
		{"init container without limits", mkPod([]corev1.Container{ctr("i", "", "")}, ctr("a", "", "cpu=1,memory=1Gi")), corev1.PodQOSBurstable},
		{"init container with requests only", mkPod([]corev1.Container{ctr("i", "cpu=1m", "")}, ctr("a", "", "")), corev1.PodQOSBurstable},
		{"guaranteed sidecar and app", mkPod([]corev1.Container{sidecar("s", "", "cpu=1,memory=1Gi")}, ctr("a", "", "cpu=2,memory=2Gi")), corev1.PodQOSGuaranteed},
		{"zero cpu limit is no limit", mkPod(nil, ctr("a", "", "cpu=0,memory=1Gi")), corev1.PodQOSBurstable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := QOSClass(tc.pod); got != tc.want {
				t.Errorf("QOSClass = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSandboxCgroup(t *testing.T) {
	if got, want := SandboxCgroup("kubepods/burstable/poduid1"), "kubepods/burstable/poduid1/_sandbox"; got != want {
		t.Errorf("SandboxCgroup = %q, want %q", got, want)
	}
}

func TestSharesAndQuota(t *testing.T) {
	cases := []struct {
		milli  int64
		shares uint64
		quota  int64
	}{
		{0, 2, -1},
		{1, 2, 1000},
		{2, 2, 1000},
		{3, 3, 1000},
		{10, 10, 1000},
		{11, 11, 1100},
		{100, 102, 10000},
		{500, 512, 50000},
		{1000, 1024, 100000},
		{256000, 262144, 25600000},
		{300000, 262144, 30000000},
		{1000000000000, 262144, 17592186044415},
	}
	for _, tc := range cases {
		if got := SharesFromMilliCPU(tc.milli); got != tc.shares {
			t.Errorf("SharesFromMilliCPU(%d) = %d, want %d", tc.milli, got, tc.shares)
		}
		if got := QuotaFromMilliCPU(tc.milli); got != tc.quota {
			t.Errorf("QuotaFromMilliCPU(%d) = %d, want %d", tc.milli, got, tc.quota)
		}
	}
}

func TestV2Files(t *testing.T) {
	cases := []struct {
		name string
		r    Resources
		want map[string]string
	}{
		{"zero value sets nothing", Resources{}, map[string]string{}},
		{
			"weights at the documented points",
			Resources{CPUShares: 1024, CPUQuota: -1, CPUPeriod: 100000, MemoryMax: -1},
			map[string]string{"cpu.weight": "100", "cpu.max": "max 100000", "memory.max": "max"},
		},
		{"512 shares", Resources{CPUShares: 512}, map[string]string{"cpu.weight": "59"}},
		{"102 shares", Resources{CPUShares: 102}, map[string]string{"cpu.weight": "17"}},
		{"2 shares", Resources{CPUShares: 2}, map[string]string{"cpu.weight": "1"}},
		{
			"everything set",
			Resources{CPUShares: 2, CPUQuota: 50000, CPUPeriod: 100000, MemoryMax: 67108864, PidsMax: 64, OOMGroup: true},
			map[string]string{"cpu.weight": "1", "cpu.max": "50000 100000", "memory.max": "67108864", "pids.max": "64", "memory.oom.group": "1"},
		},
		{"pids max", Resources{PidsMax: -1}, map[string]string{"pids.max": "max"}},
		{"quota without period", Resources{CPUQuota: 20000}, map[string]string{"cpu.max": "20000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.V2Files()
			if len(got) != len(tc.want) {
				t.Fatalf("V2Files = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("V2Files[%q] = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}
