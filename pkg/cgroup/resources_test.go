package cgroup

import (
	"reflect"
	"testing"

	"github.com/opencontainers/cgroups"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

func TestResources(t *testing.T) {
	int64p := func(v int64) *int64 { return &v }
	in := translate.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryMax: 67108864, PidsMax: 64, OOMGroup: true}
	cases := []struct {
		name string
		in   translate.Resources
		v2   bool
		want *cgroups.Resources
	}{
		{"v1 keeps shares, drops oom group", in, false, &cgroups.Resources{
			CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, Memory: 67108864, PidsLimit: int64p(64), SkipDevices: true}},
		{"v2 converts shares to weight (512 -> 59)", in, true, &cgroups.Resources{
			CpuWeight: 59, CpuQuota: 50000, CpuPeriod: 100000, Memory: 67108864, PidsLimit: int64p(64), SkipDevices: true,
			Unified: map[string]string{"memory.oom.group": "1"}}},
		{"v2 minimum shares give weight 1, no pids limit", translate.Resources{CPUShares: 2, CPUQuota: -1, CPUPeriod: 100000, MemoryMax: -1}, true,
			&cgroups.Resources{CpuWeight: 1, CpuQuota: -1, CpuPeriod: 100000, Memory: -1, SkipDevices: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := resources(tc.in, tc.v2); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAbs(t *testing.T) {
	for _, tc := range []struct{ root, rel, want string }{
		{"/", "kubepods/pod1", "/kubepods/pod1"},
		{"/a/b", "kubepods", "/a/b/kubepods"},
		{"/a/", "", "/a"},
	} {
		if got := Abs(tc.root, tc.rel); got != tc.want {
			t.Errorf("Abs(%q, %q) = %q, want %q", tc.root, tc.rel, got, tc.want)
		}
	}
}
