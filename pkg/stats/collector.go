package stats

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/clock"
)

// Config is what a Collector reads from. NodeName is required; the rest has
// defaults or is optional.
type Config struct {
	// NodeName names the node in the summary.
	NodeName string
	// CgroupFS is the cgroup v2 mount point, whose root gives the node's
	// CPU and memory. Default /sys/fs/cgroup.
	CgroupFS string
	// ProcFS is the proc mount. Default /proc.
	ProcFS string
	// RootDir is a directory on the node's filesystem (the agent's root
	// dir); its statfs gives the node fs stats. Empty leaves them out.
	RootDir string
	// PodsCgroup is the cgroup of all pods (kubepods), below CgroupFS; it
	// becomes the "pods" system container. Empty leaves it out.
	PodsCgroup string
	// ImageDir is the image store; the node's runtime imageFs is its
	// filesystem, with the store's usage. Empty leaves imageFs out.
	ImageDir string
	// ContainerDir holds the containers' writable layers (the sandbox
	// state root); the node's runtime containerFs is its filesystem, with
	// the reported containers' rootfs usage. Empty leaves containerFs out.
	ContainerDir string
	// UsageInterval is how old a directory's disk usage may get before it
	// is walked again (see usageCache). Default 10s.
	UsageInterval time.Duration
	// Clock stamps the samples and times the CPU rate. Default: real time.
	Clock clock.PassiveClock
}

// Pod is one pod to report on, as the caller's runtime knows it.
type Pod struct {
	UID       types.UID
	Namespace string
	Name      string
	// CgroupPath is the pod's cgroup below CgroupFS ("kubepods/burstable/pod<uid>").
	// Empty leaves the pod's CPU, memory, IO and process stats out.
	CgroupPath string
	// SandboxPID is a process in the pod's network namespace; 0 leaves the
	// network stats out.
	SandboxPID int
	// StartTime is when the agent accepted the pod (its status startTime).
	StartTime  time.Time
	Containers []Container
	// LogDir is the pod's log directory (/var/log/pods/<ns>_<name>_<uid>);
	// the files directly in it count to its ephemeral storage. May be empty.
	LogDir string
	// EtcDir holds the agent-managed /etc files of the pod (hosts,
	// resolv.conf, hostname), which count to its ephemeral storage, as
	// upstream's etc-hosts file does. May be empty.
	EtcDir string
	// Volumes are the pod's volumes the agent made on the node.
	Volumes []Volume
}

// Volume is one volume directory of a pod, reported in its VolumeStats.
type Volume struct {
	Name string
	Path string
	// Ephemeral counts the volume to the pod's ephemeral storage: an
	// emptyDir on the node's disk, or a configMap, as upstream's
	// IsLocalEphemeralVolume (memory-backed volumes use no disk).
	Ephemeral bool
}

// Container is one running container of a Pod.
type Container struct {
	Name string
	// CgroupPath is the container's cgroup below CgroupFS.
	CgroupPath string
	// StartTime is when the container was created.
	StartTime time.Time
	// WritableLayer is the directory of the container's writable rootfs
	// layer (the overlay upper dir). Empty leaves its rootfs stats out.
	WritableLayer string
	// LogDir is the container's log directory
	// (/var/log/pods/<ns>_<name>_<uid>/<container>). Empty leaves its log
	// stats out.
	LogDir string
}

// Collector reads the summary. It keeps the last CPU sample of every cgroup
// it reported on, to compute usageNanoCores; a cgroup that is not in a
// Summary any more is forgotten. It is safe for concurrent use.
type Collector struct {
	cfg Config

	mu  sync.Mutex
	gen uint64               // counts Summary calls
	cpu map[string]cpuSample // by cgroup directory; "" is the node
	du  *usageCache
}

// cpuSample is the cumulative CPU usage of one cgroup at one time, and the
// rate since the sample before it.
type cpuSample struct {
	usage uint64
	at    time.Time
	rate  *uint64
	gen   uint64
}

// nodeKey is the node's key in Collector.cpu; every cgroup's is a path.
const nodeKey = ""

// New returns a Collector for cfg.
func New(cfg Config) (*Collector, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("stats: NodeName is required")
	}
	if cfg.CgroupFS == "" {
		cfg.CgroupFS = "/sys/fs/cgroup"
	}
	if cfg.ProcFS == "" {
		cfg.ProcFS = "/proc"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.UsageInterval == 0 {
		cfg.UsageInterval = defaultUsageInterval
	}
	return &Collector{cfg: cfg, cpu: map[string]cpuSample{}, du: newUsageCache(cfg.UsageInterval, cfg.Clock)}, nil
}

// Summary reads everything the Summary API carries for the node and pods,
// and starts a new CPU rate window for each cgroup: usageNanoCores is the
// average since the previous Summary (absent on a cgroup's first).
func (c *Collector) Summary(ctx context.Context, pods []Pod) *statsapi.Summary {
	return c.collect(ctx, pods, true)
}

// CPUAndMemory reads only the node's, pods' and containers' CPU and memory
// (upstream's only_cpu_and_memory, what /metrics/resource reports). It leaves
// the CPU rate windows alone: usageNanoCores is the one the last Summary
// computed.
func (c *Collector) CPUAndMemory(ctx context.Context, pods []Pod) *statsapi.Summary {
	return c.collect(ctx, pods, false)
}

func (c *Collector) collect(ctx context.Context, pods []Pod, full bool) *statsapi.Summary {
	logger := klog.FromContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if full {
		c.gen++
	}
	now := metav1.NewTime(c.cfg.Clock.Now())
	s := &statsapi.Summary{
		Node: c.node(logger, now, full),
		Pods: make([]statsapi.PodStats, 0, len(pods)),
	}
	for _, p := range pods {
		s.Pods = append(s.Pods, c.pod(logger, p, now, full))
	}
	if full {
		s.Node.Runtime = c.runtimeFs(logger, s.Pods, now)
		c.du.sweep(logger, c.gen)
		for k, v := range c.cpu {
			if v.gen != c.gen {
				delete(c.cpu, k)
			}
		}
	}
	return s
}

func (c *Collector) pod(logger logr.Logger, p Pod, now metav1.Time, full bool) statsapi.PodStats {
	dir, cg := c.readCgroup(logger, p.CgroupPath)
	ps := statsapi.PodStats{
		PodRef:     statsapi.PodReference{Name: p.Name, Namespace: p.Namespace, UID: string(p.UID)},
		StartTime:  metav1.NewTime(p.StartTime),
		Containers: make([]statsapi.ContainerStats, 0, len(p.Containers)),
		CPU:        c.cpuStats(dir, cg, now, full),
		Memory:     cg.memoryStats(now),
		Swap:       cg.swapStats(now),
	}
	for _, ctr := range p.Containers {
		cs := c.container(logger, ctr.Name, ctr.CgroupPath, ctr.StartTime, now, full)
		if full {
			cs.Rootfs = c.fsUsage(logger, usageKey{path: ctr.WritableLayer}, now)
			cs.Logs = c.fsUsage(logger, usageKey{path: ctr.LogDir, filesOnly: true}, now)
		}
		ps.Containers = append(ps.Containers, cs)
	}
	if full {
		c.podStorage(logger, p, &ps, now)
		ps.IO = cg.ioStats(now)
		ps.ProcessStats = cg.processStats()
		if p.SandboxPID > 0 {
			ps.Network = c.network(logger, procPath(c.cfg.ProcFS, strconv.Itoa(p.SandboxPID), "net", "dev"), now)
		}
	}
	return ps
}

func (c *Collector) container(logger logr.Logger, name, cgroupPath string, start time.Time, now metav1.Time, full bool) statsapi.ContainerStats {
	dir, cg := c.readCgroup(logger, cgroupPath)
	cs := statsapi.ContainerStats{
		Name:      name,
		StartTime: metav1.NewTime(start),
		CPU:       c.cpuStats(dir, cg, now, full),
		Memory:    cg.memoryStats(now),
		Swap:      cg.swapStats(now),
	}
	if full {
		cs.IO = cg.ioStats(now)
	}
	return cs
}

// readCgroup reads the cgroup at rel, below CgroupFS; an empty rel reads
// nothing.
func (c *Collector) readCgroup(logger logr.Logger, rel string) (string, cgroupSample) {
	if rel == "" {
		return "", cgroupSample{}
	}
	dir := filepath.Join(c.cfg.CgroupFS, rel)
	return dir, readCgroup(logger, dir)
}

// cpuStats is the Summary's view of a cgroup's CPU.
func (c *Collector) cpuStats(key string, cg cgroupSample, now metav1.Time, advance bool) *statsapi.CPUStats {
	if cg.cpuUsage == nil && cg.cpuPSI == nil {
		return nil
	}
	out := &statsapi.CPUStats{Time: now, UsageCoreNanoSeconds: cg.cpuUsage, PSI: cg.cpuPSI}
	if cg.cpuUsage != nil {
		out.UsageNanoCores = c.rate(key, *cg.cpuUsage, now.Time, advance)
	}
	return out
}

// rate returns the CPU usage of key in nanocores since its previous sample,
// as upstream's CRI stats provider computes it. With advance, usage becomes
// the new previous sample; without, the last computed rate is returned. There
// is no rate on the first sample, nor when the usage went down (the cgroup
// was made anew).
func (c *Collector) rate(key string, usage uint64, now time.Time, advance bool) *uint64 {
	prev, ok := c.cpu[key]
	if !advance {
		return copyPtr(prev.rate)
	}
	if ok && !now.After(prev.at) {
		// No time passed (a second Summary within the clock's resolution):
		// keep the window open and report the last rate.
		prev.gen = c.gen
		c.cpu[key] = prev
		return copyPtr(prev.rate)
	}
	next := cpuSample{usage: usage, at: now, gen: c.gen}
	if ok && usage >= prev.usage {
		r := uint64(float64(usage-prev.usage) / float64(now.Sub(prev.at).Nanoseconds()) * float64(time.Second))
		next.rate = &r
	}
	c.cpu[key] = next
	return copyPtr(next.rate)
}

func copyPtr(p *uint64) *uint64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
