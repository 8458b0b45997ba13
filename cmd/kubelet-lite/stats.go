package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/stats"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// statsCgroup is the cgroup at rel (a path the translator made, below the
// agent's cgroup root) as the stats collector wants it: relative to the
// cgroup mount, which shows the cgroup hierarchy from its root. Empty stays
// empty: no cgroup.
func statsCgroup(cgroupRoot, rel string) string {
	if rel == "" {
		return ""
	}
	return strings.TrimPrefix(cgroup.Abs(cgroupRoot, rel), "/")
}

// statsPod is what the stats collector reports on for one pod of the
// runtime: its running containers, and the pod cgroup, which is the parent
// of every container's (the translator's layout). startTime is the pod's
// status startTime, zero when the agent has none; the earliest container
// start stands in for it then.
func statsPod(p sandbox.PodState, cgroupRoot string, startTime time.Time) stats.Pod {
	sp := stats.Pod{UID: p.UID, Namespace: p.Namespace, Name: p.Name, SandboxPID: p.SandboxPID, StartTime: startTime}
	for _, c := range p.Containers {
		if sp.CgroupPath == "" && c.Cgroup != "" {
			sp.CgroupPath = statsCgroup(cgroupRoot, path.Dir(c.Cgroup))
		}
		if c.State != sandbox.StateRunning {
			continue
		}
		if startTime.IsZero() && (sp.StartTime.IsZero() || c.StartedAt.Before(sp.StartTime)) {
			sp.StartTime = c.StartedAt
		}
		sp.Containers = append(sp.Containers, stats.Container{
			Name: c.Name, CgroupPath: statsCgroup(cgroupRoot, c.Cgroup), StartTime: c.StartedAt,
		})
	}
	return sp
}

// statsDirs are where the agent keeps what counts to a pod's ephemeral
// storage, besides its containers' writable layers.
type statsDirs struct {
	logs    string // container logs, <logs>/<ns>_<name>_<uid>/<container>/
	volumes string // pkg/volume's root, <volumes>/<uid>/volumes/kubernetes.io~<plugin>/<name>
	etc     string // the managed /etc files, <etc>/<uid>/
}

func newStatsDirs(cfg config.Config) statsDirs {
	return statsDirs{logs: cfg.LogDir, volumes: cfg.VolumeDir(), etc: cfg.EtcDir()}
}

// addStorage names the directories of sp's storage: each container's
// writable layer and log directory, the pod's log and /etc directories, and
// the volumes pkg/volume made for it (listed from its layout on disk).
func (d statsDirs) addStorage(sp *stats.Pod, writableLayer func(uid types.UID, name string) string) {
	sp.LogDir = filepath.Join(d.logs, fmt.Sprintf("%s_%s_%s", sp.Namespace, sp.Name, sp.UID))
	sp.EtcDir = filepath.Join(d.etc, string(sp.UID))
	for i := range sp.Containers {
		c := &sp.Containers[i]
		c.WritableLayer = writableLayer(sp.UID, c.Name)
		c.LogDir = filepath.Join(sp.LogDir, c.Name)
	}
	sp.Volumes = podVolumes(filepath.Join(d.volumes, string(sp.UID), "volumes"))
}

// podVolumes lists the volume directories below a pod's volumes dir,
// kubernetes.io~<plugin>/<name>. An emptyDir counts to the pod's ephemeral
// storage unless it is a mount of its own (the tmpfs of medium Memory); a
// configMap always does, as upstream's IsLocalEphemeralVolume. Secrets and
// projected volumes are tmpfs mounts, downwardAPI upstream's is too.
func podVolumes(dir string) []stats.Volume {
	plugins, err := os.ReadDir(dir)
	if err != nil {
		return nil // no volumes made (yet), or torn down
	}
	var out []stats.Volume
	for _, p := range plugins {
		plugin, ok := strings.CutPrefix(p.Name(), "kubernetes.io~")
		if !ok || !p.IsDir() {
			continue
		}
		vols, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			continue
		}
		for _, v := range vols {
			if !v.IsDir() {
				continue
			}
			path := filepath.Join(dir, p.Name(), v.Name())
			eph := plugin == "configmap" || (plugin == "empty-dir" && !mountPoint(path))
			out = append(out, stats.Volume{Name: v.Name(), Path: path, Ephemeral: eph})
		}
	}
	return out
}

// mountPoint says whether path is on another filesystem than its parent.
func mountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// statsPods lists the runtime's pods whose sandbox runs, for the stats
// collector. podStatus finds a pod's status (ok false when the agent has
// none).
func statsPods(rt *sandbox.Runtime, cgroupRoot string, dirs statsDirs, podStatus func(namespace, name string) (*corev1.Pod, bool)) stats.PodSource {
	return func(context.Context) ([]stats.Pod, error) {
		pods, err := rt.ListPods()
		if err != nil {
			return nil, err
		}
		out := make([]stats.Pod, 0, len(pods))
		for _, p := range pods {
			if p.SandboxPID == 0 {
				continue
			}
			var start time.Time
			if api, ok := podStatus(p.Namespace, p.Name); ok && api.UID == p.UID && api.Status.StartTime != nil {
				start = api.Status.StartTime.Time
			}
			sp := statsPod(p, cgroupRoot, start)
			dirs.addStorage(&sp, rt.WritableLayer)
			out = append(out, sp)
		}
		return out, nil
	}
}

// statsCollector reads the node's and pods' stats, with the agent's pods
// cgroup as the "pods" system container, the image store as the runtime's
// imageFs and the sandbox state (the writable layers) as its containerFs.
func statsCollector(cfg config.Config) (*stats.Collector, error) {
	return stats.New(stats.Config{
		NodeName:     cfg.NodeName,
		RootDir:      cfg.RootDir,
		PodsCgroup:   statsCgroup(cfg.CgroupRoot, translate.PodsCgroupName),
		ImageDir:     cfg.ImageDir(),
		ContainerDir: cfg.SandboxDir(),
	})
}
