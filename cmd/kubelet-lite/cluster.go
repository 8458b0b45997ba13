package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	clientmetrics "k8s.io/client-go/tools/metrics"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/metrics"
	"github.com/kubelet-lite/kubelet-lite/pkg/node"
	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
	"github.com/kubelet-lite/kubelet-lite/pkg/podworker"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/server"
	"github.com/kubelet-lite/kubelet-lite/pkg/status"
	"github.com/kubelet-lite/kubelet-lite/pkg/version"
	"github.com/kubelet-lite/kubelet-lite/pkg/volume"
)

// cluster is what the agent runs when it is a node of a cluster: the node
// controller, the API pod source with mirror pods, the status manager, the
// kubelet API, the Service informer for containers' service variables and
// the service proxy.
type cluster struct {
	client kubernetes.Interface
	// nodeIP is the node's address.
	nodeIP    net.IP
	getter    volume.Getter
	informers informers.SharedInformerFactory
	services  services
	api       *podsource.API
	mirrors   *podsource.Mirrors
	status    *status.Manager
	node      *node.Controller
	server    *server.Server
	// proxy programs Services into IPVS (--proxy-mode ipvs); nil without
	// it, and when noProxy says why the kernel cannot have it.
	proxy   *serviceProxy
	noProxy error
	// pods is the agent's pod list as its sources last gave it, for /pods.
	pods atomic.Pointer[[]*corev1.Pod]
}

func newCluster(ctx context.Context, cfg config.Config, cgroupVersion string, rt *sandbox.Runtime, pods *cniNetwork, km *metrics.Kubelet) (*cluster, error) {
	// client-go's request metrics go to the agent's registry; client-go
	// takes the first adapters a process registers.
	clientGo := metrics.NewClientGo()
	clientmetrics.Register(clientGo.RegisterOpts())
	rest, err := clusterREST(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rest.UserAgent = "kubelet-lite/" + version.Version
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	ip := node.DefaultIP()
	if cfg.NodeIP != "" {
		ip = net.ParseIP(cfg.NodeIP)
	}
	c := &cluster{
		client:    client,
		nodeIP:    ip,
		getter:    volume.NewAPIGetter(client),
		informers: informers.NewSharedInformerFactory(client, 0),
		api:       &podsource.API{Client: client, NodeName: cfg.NodeName, Events: km.PodEvents()},
		mirrors:   &podsource.Mirrors{Client: client, NodeName: cfg.NodeName},
	}
	svc := c.informers.Core().V1().Services()
	c.services = services{lister: svc.Lister(), synced: svc.Informer().HasSynced}
	if c.status, err = status.New(status.Config{Client: client, NodeName: cfg.NodeName, HostIPs: []string{ip.String()}, Pods: c.api}); err != nil {
		return nil, err
	}
	system, err := config.ParseReserved(cfg.SystemReserved)
	if err != nil {
		return nil, err
	}
	kube, err := config.ParseReserved(cfg.KubeReserved)
	if err != nil {
		return nil, err
	}
	nodeCfg := node.Config{
		Client: client, NodeName: cfg.NodeName, NodeIP: ip, MaxPods: cfg.MaxPods, RootDir: cfg.RootDir,
		Labels: cfg.NodeLabels, SystemReserved: system, KubeReserved: kube,
		Version: version.Version, CgroupVersion: cgroupVersion, KubeletPort: cfg.Port,
		Ready: runtimeReady(rt),
	}
	if pods != nil {
		nodeCfg.Ready = func() error { return errors.Join(runtimeReady(rt)(), pods.Ready()) }
		nodeCfg.OnPodCIDR = func(cidr string) {
			if cidr == "" || cfg.PodCIDR != "" {
				return
			}
			if err := pods.setPodCIDR(cidr); err != nil {
				klog.ErrorS(err, "Writing the default pod network for the node's pod CIDR failed", "podCIDR", cidr)
			}
		}
	}
	c.node, err = node.New(nodeCfg)
	if err != nil {
		return nil, err
	}
	// The agent's own metrics, served on the kubelet API's /metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	collector, err := statsCollector(cfg)
	if err != nil {
		return nil, err
	}
	podStats := statsPods(rt, cfg.CgroupRoot, newStatsDirs(cfg), c.api.Pod)
	reg.MustRegister(km, clientGo, metrics.NewRuntimeCollector(rt.ListPods), collector.PressureCollector(podStats))
	getCert, err := servingCertificate(ctx, cfg, client, ip)
	if err != nil {
		return nil, err
	}
	c.server, err = server.New(server.Config{
		Addr:        net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)),
		TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile, GetCertificate: getCert, CertDir: filepath.Join(cfg.RootDir, "pki"),
		NodeIPs: []net.IP{ip}, ClientCAFile: cfg.ClientCAFile, Client: client, NodeName: cfg.NodeName,
		Logs: logSource{rt}, Streams: newStreamer(rt), HealthzAddr: cfg.HealthzAddr,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promLog{}}),
		Stats:   collector, StatsPods: podStats, Pods: c.podList,
	})
	if err != nil {
		return nil, err
	}
	if c.proxy, c.noProxy, err = newServiceProxy(cfg, client, ip, reg); err != nil {
		return nil, err
	}
	return c, nil
}

// run starts the cluster parts; they stop with ctx.
func (c *cluster) run(ctx context.Context) {
	c.informers.Start(ctx.Done())
	go c.status.Run(ctx)
	go c.mirrors.Run(ctx)
	go func() {
		if err := c.node.Run(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Node controller stopped")
		}
	}()
	go func() {
		if err := c.server.Run(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Kubelet API stopped")
		}
	}()
	if c.proxy != nil {
		go runServiceProxy(ctx, c.proxy)
	}
}

// setPods keeps the agent's current pods for /pods.
func (c *cluster) setPods(pods []*corev1.Pod) { c.pods.Store(&pods) }

// podList is the agent's current pods, as the kubelet's pod manager holds
// them: as the sources gave them, with the apiserver's status of then.
func (c *cluster) podList() []*corev1.Pod {
	if p := c.pods.Load(); p != nil {
		return *p
	}
	return nil
}

// runtimeReady makes the node NotReady while the runtime cannot list its
// sandboxes, as upstream's kubelet does when the container runtime is down.
func runtimeReady(rt *sandbox.Runtime) func() error {
	return func() error {
		if _, err := rt.ListPods(); err != nil {
			return fmt.Errorf("container runtime is down: %w", err)
		}
		return nil
	}
}

// services lists the Services from an informer's cache, for containers'
// service-link variables (the Node authorizer lets a node watch them all).
type services struct {
	lister corelisters.ServiceLister
	synced cache.InformerSynced
}

func (s services) List() ([]*corev1.Service, error) {
	if !s.synced() {
		return nil, errors.New("services have not been read from the apiserver yet")
	}
	return s.lister.List(labels.Everything())
}

// recordEvents sends the agent's events to the apiserver too.
func (c *cluster) recordEvents(b record.EventBroadcaster) {
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
}

// statuses hands each pod status to every store: the files ps reads, and
// the apiserver when the agent is a cluster node.
type statuses []podworker.Statuses

func (s statuses) Set(pod *corev1.Pod, st corev1.PodStatus) error {
	var errs []error
	for _, store := range s {
		errs = append(errs, store.Set(pod, st))
	}
	return errors.Join(errs...)
}

func (s statuses) Delete(uid types.UID) error {
	var errs []error
	for _, store := range s {
		errs = append(errs, store.Delete(uid))
	}
	return errors.Join(errs...)
}

// logSource finds the CRI log files of the runtime's containers.
type logSource struct{ rt *sandbox.Runtime }

func (l logSource) container(namespace, pod, name string) (sandbox.ContainerStatus, error) {
	pods, err := l.rt.ListPods()
	if err != nil {
		return sandbox.ContainerStatus{}, err
	}
	for _, p := range pods {
		if p.Namespace != namespace || p.Name != pod {
			continue
		}
		for _, c := range p.Containers {
			if c.Name == name {
				return c, nil
			}
		}
		return sandbox.ContainerStatus{}, fmt.Errorf("container %s in pod %s/%s: %w", name, namespace, pod, server.ErrNotFound)
	}
	return sandbox.ContainerStatus{}, fmt.Errorf("pod %s/%s: %w", namespace, pod, server.ErrNotFound)
}

// LogPath is the log of the container's current attempt, or of the one
// before it.
func (l logSource) LogPath(namespace, pod, name string, previous bool) (string, error) {
	c, err := l.container(namespace, pod, name)
	if err != nil || !previous {
		return c.LogPath, err
	}
	if c.Attempt == 0 {
		return "", fmt.Errorf("previous terminated container %q in pod %q: %w", name, pod, server.ErrNotFound)
	}
	prev := filepath.Join(filepath.Dir(c.LogPath), strconv.Itoa(c.Attempt-1)+".log")
	if _, err := os.Stat(prev); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("previous terminated container %q in pod %q: %w", name, pod, server.ErrNotFound)
	}
	return prev, nil
}

// Running tells whether the attempt writing path still runs.
func (l logSource) Running(namespace, pod, name, path string) bool {
	c, err := l.container(namespace, pod, name)
	return err == nil && c.State == sandbox.StateRunning && c.LogPath == path
}

// promLog sends the metrics handler's errors to the agent's log.
type promLog struct{}

func (promLog) Println(v ...any) { klog.ErrorS(nil, "Serving metrics failed", "err", fmt.Sprint(v...)) }
