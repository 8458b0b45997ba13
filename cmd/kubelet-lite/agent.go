package main

import (
	"context"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/image"
	"github.com/kubelet-lite/kubelet-lite/pkg/logrotate"
	"github.com/kubelet-lite/kubelet-lite/pkg/metrics"
	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
	"github.com/kubelet-lite/kubelet-lite/pkg/podworker"
	"github.com/kubelet-lite/kubelet-lite/pkg/prober"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/status"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
	"github.com/kubelet-lite/kubelet-lite/pkg/volume"
)

// agent holds the parts run wires together.
type agent struct {
	cfg  config.Config
	tree *cgroup.Tree

	rt          *sandbox.Runtime
	network     *cniNetwork // nil without --network-plugin cni
	cluster     *cluster    // nil without --kubeconfig
	broadcaster record.EventBroadcaster
	vols        *volume.Manager
	workers     *podworker.Workers
	sources     []podsource.Source
	// metrics are the agent's own, served on a cluster node's /metrics.
	metrics *metrics.Kubelet
}

// build makes every part; nothing runs yet but what their constructors
// start (the runtime's exit watch).
func (a *agent) build(ctx context.Context) error {
	cfg := a.cfg
	store, err := image.NewStore(image.Config{Root: cfg.ImageDir()})
	if err != nil {
		return err
	}
	if err := a.buildRuntime(); err != nil {
		return err
	}
	allocatable, err := nodeAllocatable(cfg)
	if err != nil {
		return err
	}
	if cfg.NetworkPlugin == config.NetworkPluginCNI {
		if a.network, err = newCNINetwork(cfg); err != nil {
			return err
		}
		if err := a.network.gc(ctx, a.rt); err != nil {
			klog.ErrorS(err, "Cleaning up the network of pods gone while the agent was down failed")
		}
	}
	a.metrics = metrics.New()
	if cfg.Kubeconfig != "" {
		if a.cluster, err = newCluster(ctx, cfg, a.tree.Version(), a.rt, a.network, a.metrics); err != nil {
			return err
		}
	}
	a.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	a.broadcaster.StartStructuredLogging(2)
	recorder := a.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	caps, err := boundingCapabilities()
	if err != nil {
		return err
	}
	volCfg := volume.Config{Dir: cfg.VolumeDir(), Allocatable: allocatable}
	podCfg := podworker.Config{
		Runtime:     a.rt,
		Images:      images{store},
		Cgroups:     a.tree,
		Node:        translate.Node{PodPidsLimit: cfg.PodPidsLimit},
		LogDir:      cfg.LogDir,
		Seccomp:     podworker.Seccomp{ProfileRoot: cfg.SeccompDir(), Default: cfg.SeccompDefault},
		MaxParallel: cfg.MaxParallelStarts,
		Capacity:    podworker.Capacity{MaxPods: cfg.MaxPods, Allocatable: allocatable},
		Security: translate.SecurityPolicy{AllowPrivileged: cfg.AllowPrivileged, UnsafeSysctls: cfg.AllowedUnsafeSysctls,
			Capabilities: caps},
		Recorder: recorder,
		Statuses: status.Files{Dir: cfg.StatusDir()},
		Etc:      etcFiles(cfg),
		Metrics:  a.metrics,
	}
	if a.network != nil {
		podCfg.Network = a.network
	}
	if cfg.PodManifestPath != "" {
		a.sources = append(a.sources, &podsource.Dir{Path: cfg.PodManifestPath, NodeName: cfg.NodeName, Resync: cfg.FileCheckFrequency})
	}
	if cl := a.cluster; cl != nil {
		cl.recordEvents(a.broadcaster)
		if cl.noProxy != nil {
			node := &corev1.ObjectReference{Kind: "Node", Name: cfg.NodeName, UID: types.UID(cfg.NodeName)}
			recorder.Eventf(node, corev1.EventTypeWarning, "ProxyUnavailable", "Services are not served on this node: %v", cl.noProxy)
		}
		volCfg.Getter = cl.getter
		podCfg.Objects = cl.getter
		podCfg.Services = cl.services
		podCfg.NodeIPs = []string{cl.nodeIP.String()}
		podCfg.Statuses = statuses{status.Files{Dir: cfg.StatusDir()}, cl.status}
		a.sources = append(a.sources, cl.api)
	}
	if a.vols, err = volume.New(volCfg); err != nil {
		return err
	}
	if podCfg.Probes, err = a.newProber(recorder); err != nil {
		return err
	}
	podCfg.Volumes = volumes{a.vols}
	a.workers, err = podworker.New(podCfg)
	return err
}

// buildRuntime installs the containers' init binary and opens the sandbox
// runtime, whose exits wake the pod's worker.
func (a *agent) buildRuntime() error {
	initPath, err := installInitBinary(filepath.Join(a.cfg.RootDir, "bin"))
	if err != nil {
		return err
	}
	a.rt, err = sandbox.New(sandbox.Config{
		Root:       a.cfg.SandboxDir(),
		Binary:     initPath,
		CgroupRoot: a.cfg.CgroupRoot,
		OnExit: func(uid types.UID, _ string) {
			if a.workers != nil {
				a.workers.Wake(uid)
			}
		},
	})
	return err
}

// newProber runs the probes; a failed liveness or startup probe restarts
// the container, any other result wakes the pod's worker.
func (a *agent) newProber(recorder record.EventRecorder) (*prober.Manager, error) {
	return prober.New(prober.Config{
		Execer:   a.rt,
		Network:  podNetwork(a.rt),
		Recorder: recorder,
		Results: func(uid types.UID, container string, kind prober.Kind, r prober.Result) {
			if (kind == prober.Liveness || kind == prober.Startup) && r.Status == prober.Failure {
				a.workers.ProbeFailed(uid, container, r.GracePeriod)
				return
			}
			a.workers.Wake(uid)
		},
	})
}

// start runs the background parts: volume refresh, log rotation, the
// cluster parts and the pod sources feeding the workers.
func (a *agent) start(ctx context.Context) {
	go a.vols.Run(ctx)
	go func() {
		r := &logrotate.Rotator{Dir: a.cfg.LogDir, MaxSize: a.cfg.ContainerLogMaxBytes(), MaxFiles: a.cfg.ContainerLogMaxFiles, Compress: true}
		if err := r.Run(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Log rotation stopped")
		}
	}()
	if a.cluster != nil {
		a.cluster.run(ctx)
	}
	go func() {
		err := podsource.Merge(ctx, func(pods []*corev1.Pod) {
			a.workers.Update(ctx, pods)
			if a.cluster != nil {
				a.cluster.mirrors.Set(pods)
				a.cluster.setPods(pods)
			}
		}, a.sources...)
		if err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Pod sources stopped")
		}
	}()
}
