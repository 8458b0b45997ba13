package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/stats"
)

func TestStatsCgroup(t *testing.T) {
	cases := []struct{ root, rel, want string }{
		{"/", "kubepods/burstable/podu/app", "kubepods/burstable/podu/app"},
		{"/system.slice/kubelet-lite", "kubepods/podu", "system.slice/kubelet-lite/kubepods/podu"},
		{"system.slice/kubelet-lite/", "kubepods", "system.slice/kubelet-lite/kubepods"},
		{"/", "", ""},
		{"/x", "", ""},
	}
	for _, tc := range cases {
		if got := statsCgroup(tc.root, tc.rel); got != tc.want {
			t.Errorf("statsCgroup(%q, %q) = %q, want %q", tc.root, tc.rel, got, tc.want)
		}
	}
}

func TestStatsPod(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	p := sandbox.PodState{
		UID: "u1", Namespace: "default", Name: "web", SandboxPID: 42,
		Containers: []sandbox.ContainerStatus{
			{Name: "init", State: sandbox.StateExited, StartedAt: t0.Add(-time.Hour), Cgroup: "kubepods/burstable/podu1/init"},
			{Name: "app", State: sandbox.StateRunning, StartedAt: t1, Cgroup: "kubepods/burstable/podu1/app"},
			{Name: "side", State: sandbox.StateRunning, StartedAt: t0, Cgroup: "kubepods/burstable/podu1/side"},
		},
	}
	const root = "/test.slice/agent"
	want := stats.Pod{
		UID: "u1", Namespace: "default", Name: "web", SandboxPID: 42,
		CgroupPath: "test.slice/agent/kubepods/burstable/podu1",
		Containers: []stats.Container{
			{Name: "app", CgroupPath: "test.slice/agent/kubepods/burstable/podu1/app", StartTime: t1},
			{Name: "side", CgroupPath: "test.slice/agent/kubepods/burstable/podu1/side", StartTime: t0},
		},
	}

	t.Run("status start time", func(t *testing.T) {
		status := t0.Add(-2 * time.Hour)
		w := want
		w.StartTime = status
		if got := statsPod(p, root, status); !reflect.DeepEqual(got, w) {
			t.Errorf("statsPod =\n%+v, want\n%+v", got, w)
		}
	})
	t.Run("earliest running container without a status", func(t *testing.T) {
		w := want
		w.StartTime = t0
		if got := statsPod(p, root, time.Time{}); !reflect.DeepEqual(got, w) {
			t.Errorf("statsPod =\n%+v, want\n%+v", got, w)
		}
	})
	t.Run("no running container keeps the pod cgroup", func(t *testing.T) {
		q := p
		q.Containers = p.Containers[:1]
		w := stats.Pod{UID: "u1", Namespace: "default", Name: "web", SandboxPID: 42, CgroupPath: want.CgroupPath}
		if got := statsPod(q, root, time.Time{}); !reflect.DeepEqual(got, w) {
			t.Errorf("statsPod =\n%+v, want\n%+v", got, w)
		}
	})
	t.Run("guaranteed pod", func(t *testing.T) {
		q := sandbox.PodState{UID: "u2", Containers: []sandbox.ContainerStatus{{Name: "c", State: sandbox.StateRunning, Cgroup: "kubepods/podu2/c"}}}
		got := statsPod(q, "/", time.Time{})
		if got.CgroupPath != "kubepods/podu2" || got.Containers[0].CgroupPath != "kubepods/podu2/c" {
			t.Errorf("statsPod cgroups = %q, %q; want kubepods/podu2, kubepods/podu2/c", got.CgroupPath, got.Containers[0].CgroupPath)
		}
	})
}

func TestStatsStorage(t *testing.T) {
	root := t.TempDir()
	vols := filepath.Join(root, "pods", "u1", "volumes")
	for _, d := range []string{"kubernetes.io~empty-dir/data", "kubernetes.io~configmap/conf", "kubernetes.io~secret/token",
		"kubernetes.io~projected/kube-api-access", "kubernetes.io~downward-api/info", "not-a-plugin/x"} {
		if err := os.MkdirAll(filepath.Join(vols, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dirs := statsDirs{logs: "/var/log/pods", volumes: filepath.Join(root, "pods"), etc: "/var/lib/kl/etc"}
	sp := stats.Pod{UID: "u1", Namespace: "default", Name: "web", Containers: []stats.Container{{Name: "app"}}}
	dirs.addStorage(&sp, func(uid types.UID, name string) string { return "/sandbox/" + string(uid) + "/" + name + "/upper" })

	want := stats.Pod{
		UID: "u1", Namespace: "default", Name: "web",
		Containers: []stats.Container{{Name: "app", WritableLayer: "/sandbox/u1/app/upper", LogDir: "/var/log/pods/default_web_u1/app"}},
		LogDir:     "/var/log/pods/default_web_u1",
		EtcDir:     "/var/lib/kl/etc/u1",
		Volumes: []stats.Volume{
			{Name: "conf", Path: filepath.Join(vols, "kubernetes.io~configmap/conf"), Ephemeral: true},
			{Name: "info", Path: filepath.Join(vols, "kubernetes.io~downward-api/info")},
			{Name: "data", Path: filepath.Join(vols, "kubernetes.io~empty-dir/data"), Ephemeral: true},
			{Name: "kube-api-access", Path: filepath.Join(vols, "kubernetes.io~projected/kube-api-access")},
			{Name: "token", Path: filepath.Join(vols, "kubernetes.io~secret/token")},
		},
	}
	if !reflect.DeepEqual(sp, want) {
		t.Errorf("addStorage =\n%+v, want\n%+v", sp, want)
	}

	// A pod whose volumes are not made has none.
	sp = stats.Pod{UID: "u2"}
	dirs.addStorage(&sp, func(types.UID, string) string { return "" })
	if sp.Volumes != nil {
		t.Errorf("volumes of a pod without a volumes dir = %+v", sp.Volumes)
	}
}

// TestMountPoint: a memory emptyDir is its own tmpfs mount, which is how
// podVolumes tells it from a disk one.
func TestMountPoint(t *testing.T) {
	for path, want := range map[string]bool{"/proc": true, "/sys": true, t.TempDir(): false, "/nonexistent/kl": false} {
		if got := mountPoint(path); got != want {
			t.Errorf("mountPoint(%s) = %v, want %v", path, got, want)
		}
	}
}
