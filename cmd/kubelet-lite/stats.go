package main

import (
	"context"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
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

// statsPods lists the runtime's pods whose sandbox runs, for the stats
// collector. podStatus finds a pod's status (ok false when the agent has
// none).
func statsPods(rt *sandbox.Runtime, cgroupRoot string, podStatus func(namespace, name string) (*corev1.Pod, bool)) stats.PodSource {
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
			out = append(out, statsPod(p, cgroupRoot, start))
		}
		return out, nil
	}
}

// statsCollector reads the node's and pods' stats, with the agent's pods
// cgroup as the "pods" system container.
func statsCollector(nodeName, rootDir, cgroupRoot string) (*stats.Collector, error) {
	return stats.New(stats.Config{
		NodeName:   nodeName,
		RootDir:    rootDir,
		PodsCgroup: statsCgroup(cgroupRoot, translate.PodsCgroupName),
	})
}
