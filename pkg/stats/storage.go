package stats

import (
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// This file fills the Summary's storage fields as upstream's kubelet does
// with the CRI stats provider: a container's rootfs (its writable layer) and
// logs, a pod's volumes and ephemeral storage, the node's image and
// container filesystems. Capacity, available bytes and inodes are the
// statfs of the filesystem holding each directory, read at every scrape;
// used bytes and inodes are the directory's own, from the usageCache (so at
// most UsageInterval old, and absent until the first walk of a new
// directory has ended).

// fsUsage is the FsStats of the directory (or, with filesOnly, the files in
// it) at k.path: its filesystem's capacity, and its own usage. Nil when
// k.path is empty or cannot be statfs'ed (it is gone, or not made yet).
func (c *Collector) fsUsage(logger logr.Logger, k usageKey, now metav1.Time) *statsapi.FsStats {
	if k.path == "" {
		return nil
	}
	out, err := fsStats(k.path, now)
	if err != nil {
		logger.V(4).Info("Cannot statfs, leaving its fs stats out", "path", k.path, "err", err)
		return nil
	}
	out.UsedBytes, out.InodesUsed = nil, nil
	if u, at, ok := c.du.get(k, c.gen); ok {
		out.Time = metav1.NewTime(at)
		out.UsedBytes, out.InodesUsed = &u.bytes, &u.inodes
	}
	return out
}

// podStorage fills the pod's VolumeStats and EphemeralStorage: the sum of its
// containers' rootfs and logs, its local ephemeral volumes, the files in its
// log directory and its /etc files, on the node filesystem's capacity, as
// upstream's calcEphemeralStorage.
func (c *Collector) podStorage(logger logr.Logger, p Pod, ps *statsapi.PodStats, now metav1.Time) {
	var parts []*statsapi.FsStats
	for _, ctr := range ps.Containers {
		parts = append(parts, ctr.Rootfs, ctr.Logs)
	}
	for _, v := range p.Volumes {
		fs := c.fsUsage(logger, usageKey{path: v.Path}, now)
		if fs == nil {
			continue
		}
		ps.VolumeStats = append(ps.VolumeStats, statsapi.VolumeStats{FsStats: *fs, Name: v.Name})
		if v.Ephemeral {
			parts = append(parts, fs)
		}
	}
	parts = append(parts,
		c.fsUsage(logger, usageKey{path: p.LogDir, filesOnly: true}, now),
		c.fsUsage(logger, usageKey{path: p.EtcDir}, now))

	var total *statsapi.FsStats
	if c.cfg.RootDir != "" {
		if fs, err := fsStats(c.cfg.RootDir, now); err == nil {
			fs.Time, fs.UsedBytes, fs.InodesUsed = metav1.Time{}, nil, nil
			total = fs
		}
	}
	for _, part := range parts {
		if part == nil || part.UsedBytes == nil {
			continue
		}
		if total == nil {
			total = &statsapi.FsStats{}
		}
		total.UsedBytes = addUsage(total.UsedBytes, *part.UsedBytes)
		total.InodesUsed = addUsage(total.InodesUsed, *part.InodesUsed)
		if total.Time.Before(&part.Time) {
			total.Time = part.Time
		}
	}
	if total != nil && total.Time.IsZero() {
		total.Time = now
	}
	ps.EphemeralStorage = total
}

// runtimeFs is the node's image filesystem (with the image store's usage)
// and container filesystem (with the reported containers' rootfs usage).
func (c *Collector) runtimeFs(logger logr.Logger, pods []statsapi.PodStats, now metav1.Time) *statsapi.RuntimeStats {
	var out statsapi.RuntimeStats
	out.ImageFs = c.fsUsage(logger, usageKey{path: c.cfg.ImageDir}, now)
	if c.cfg.ContainerDir != "" {
		fs, err := fsStats(c.cfg.ContainerDir, now)
		if err != nil {
			logger.V(4).Info("Cannot statfs the container dir, leaving containerFs out", "err", err)
		} else {
			fs.UsedBytes, fs.InodesUsed = nil, nil
			for _, p := range pods {
				for _, ctr := range p.Containers {
					if ctr.Rootfs != nil && ctr.Rootfs.UsedBytes != nil {
						fs.UsedBytes = addUsage(fs.UsedBytes, *ctr.Rootfs.UsedBytes)
						fs.InodesUsed = addUsage(fs.InodesUsed, *ctr.Rootfs.InodesUsed)
					}
				}
			}
			out.ContainerFs = fs
		}
	}
	if out.ImageFs == nil && out.ContainerFs == nil {
		return nil
	}
	return &out
}

// addUsage is sum + v, where a nil sum is 0.
func addUsage(sum *uint64, v uint64) *uint64 {
	if sum != nil {
		v += *sum
	}
	return &v
}
