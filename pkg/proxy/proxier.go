package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Config is what a Proxier needs. Client, IPVS and Addresses are required.
type Config struct {
	Client kubernetes.Interface
	// IPVS is the kernel's table (NewKernelIPVS("")) or a fake.
	IPVS IPVS
	// Addresses holds the VIPs (NewDummy("", nil) for kube-ipvs0) or a fake.
	Addresses Addresses
	// Conntrack, when set, forgets UDP flows to removed real servers (NewKernelConntrack(nil)).
	Conntrack Conntrack
	// Masquerade, when set, keeps the set of Service addresses whose traffic from outside the
	// pod network is masqueraded (NewNFTMasquerade).
	Masquerade Masquerade
	// Sysctls, when set, gets the IPVS parameters at start (&Sysctls{Root: "/proc/sys"}).
	Sysctls *Sysctls
	// NodeIPs are the addresses NodePorts are served on.
	NodeIPs []netip.Addr
	// NodeAddresses, when set, is asked at each sync for the addresses NodePorts are served on,
	// in place of NodeIPs, so that addresses that come later (a bridge's) are served too.
	NodeAddresses func() ([]netip.Addr, error)
	// Scheduler is the IPVS scheduler ("" = "rr").
	Scheduler string
	// MinSyncPeriod bounds how often changes are synced (default 250ms); a change after a quiet
	// period is synced at once.
	MinSyncPeriod time.Duration
	// SyncPeriod is the interval of full resyncs against the kernel (default 30s).
	SyncPeriod time.Duration
	// Metrics, when set, receives sync durations and programming latencies.
	Metrics *Metrics
	// OnSync, when set, is called after every sync (tests, benchmarks).
	OnSync func(SyncResult)
	Logger klog.Logger
}

// SyncResult describes one sync.
type SyncResult struct {
	Stats    SyncStats
	Duration time.Duration
	// Latencies are the programming latencies of the changes this sync applied.
	Latencies []time.Duration
	Err       error
}

// Proxier keeps the kernel's IPVS table in line with the cluster's Services and EndpointSlices.
type Proxier struct {
	cfg      Config
	log      klog.Logger
	factory  informers.SharedInformerFactory
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	syncer   *Syncer
	runner   *runner

	mu      sync.Mutex
	pending map[string]change // change key → when it happened
}

// change is when a pending change happened: triggered is the cluster's time of it (an
// EndpointSlice's last-change-trigger-time) or, without one, its delivery to this node.
type change struct {
	triggered, delivered time.Time
}

// earlier merges two records of changes to one object: each time is the earlier one.
func (c change) earlier(o change) change {
	if o.triggered.Before(c.triggered) {
		c.triggered = o.triggered
	}
	if o.delivered.Before(c.delivered) {
		c.delivered = o.delivered
	}
	return c
}

// New builds a Proxier; Run starts it.
func New(cfg Config) (*Proxier, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("proxy: Config.Client is required")
	case cfg.IPVS == nil:
		return nil, errors.New("proxy: Config.IPVS is required")
	case cfg.Addresses == nil:
		return nil, errors.New("proxy: Config.Addresses is required")
	}
	if cfg.MinSyncPeriod <= 0 {
		cfg.MinSyncPeriod = 250 * time.Millisecond
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = 30 * time.Second
	}
	p := &Proxier{
		cfg:     cfg,
		log:     cfg.Logger,
		syncer:  NewSyncer(cfg.IPVS, cfg.Addresses),
		pending: map[string]change{},
	}
	// Services another proxy serves (service.kubernetes.io/service-proxy-name) are not ours.
	p.factory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = "!service.kubernetes.io/service-proxy-name"
		}))
	svcInf := p.factory.Core().V1().Services()
	sliceInf := p.factory.Discovery().V1().EndpointSlices()
	p.services, p.slices = svcInf.Lister(), sliceInf.Lister()
	if _, err := svcInf.Informer().AddEventHandler(p.handler("service")); err != nil {
		return nil, fmt.Errorf("proxy: service handler: %w", err)
	}
	if _, err := sliceInf.Informer().AddEventHandler(p.handler("endpointslice")); err != nil {
		return nil, fmt.Errorf("proxy: endpointslice handler: %w", err)
	}
	p.runner = newRunner(p.sync, cfg.MinSyncPeriod, cfg.SyncPeriod)
	return p, nil
}

// Available says whether this kernel has IPVS, with a reason when not.
func Available() error {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return fmt.Errorf("kernel has no IPVS (load ip_vs): %w", err)
	}
	return nil
}

// Run sets the sysctls, waits for the informers' caches, syncs (a full sync first, which adopts or
// removes state left by an earlier run) and keeps syncing until ctx ends; then it returns nil.
// It returns an error only when it cannot start. It leaves the kernel state in place when it
// stops (a restarted agent adopts it).
func (p *Proxier) Run(ctx context.Context) error {
	if p.cfg.Sysctls != nil {
		if err := p.cfg.Sysctls.EnsureIPVS(); err != nil {
			return fmt.Errorf("proxy: sysctls: %w", err)
		}
	}
	p.factory.Start(ctx.Done())
	defer p.factory.Shutdown()
	for typ, ok := range p.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil // stopped before it started
			}
			return fmt.Errorf("proxy: cache of %v not synced", typ)
		}
	}
	nodeIPs := any(p.cfg.NodeIPs)
	if p.cfg.NodeAddresses != nil {
		nodeIPs = "every node address"
	}
	p.log.Info("Starting IPVS proxy", "nodePortsOn", nodeIPs, "minSyncPeriod", p.cfg.MinSyncPeriod,
		"syncPeriod", p.cfg.SyncPeriod)
	p.runner.Run(ctx)
	return nil
}

// Trigger asks for a sync soon, for a change the informers do not see (the node's addresses).
func (p *Proxier) Trigger() { p.runner.Trigger() }

// handler records each change with its time and pokes the runner; the sync re-reads the listers.
func (p *Proxier) handler(kind string) cache.ResourceEventHandler {
	record := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return
		}
		now := time.Now()
		c := change{triggered: now, delivered: now}
		if sl, ok := obj.(*discovery.EndpointSlice); ok {
			if t, err := time.Parse(time.RFC3339Nano, sl.Annotations[v1.EndpointsLastChangeTriggerTime]); err == nil && t.Before(now) {
				c.triggered = t
			}
		}
		p.mu.Lock()
		if old, ok := p.pending[kind+"/"+key]; ok {
			c = c.earlier(old)
		}
		p.pending[kind+"/"+key] = c
		p.mu.Unlock()
		p.runner.Trigger()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
		DeleteFunc: record,
	}
}

func (p *Proxier) sync(full bool) error {
	start := time.Now()
	p.mu.Lock()
	pending := p.pending
	p.pending = map[string]change{}
	p.mu.Unlock()

	res := SyncResult{}
	var st State
	st, res.Stats, res.Err = p.syncOnce(full)
	end := time.Now()
	res.Duration = end.Sub(start)
	if m := p.cfg.Metrics; m != nil {
		m.SyncDuration.Observe(res.Duration.Seconds())
	}
	if res.Err != nil {
		p.mu.Lock() // not applied: these changes are still pending
		for k, c := range pending {
			if old, ok := p.pending[k]; ok {
				c = c.earlier(old)
			}
			p.pending[k] = c
		}
		p.mu.Unlock()
		if m := p.cfg.Metrics; m != nil {
			m.SyncErrors.Inc()
		}
		p.log.Error(res.Err, "IPVS proxy sync failed; retrying", "full", res.Stats.Full)
	} else {
		for _, c := range pending {
			res.Latencies = append(res.Latencies, end.Sub(c.triggered))
			if m := p.cfg.Metrics; m != nil {
				m.ProgrammingLatency.Observe(end.Sub(c.triggered).Seconds())
				m.DeliveryLatency.Observe(end.Sub(c.delivered).Seconds())
			}
		}
		if m := p.cfg.Metrics; m != nil {
			m.observeState(st)
			m.LastSync.SetToCurrentTime()
		}
		s := res.Stats
		v := p.log.V(4)
		if s.VirtualServers+s.RealServers+s.Addresses > 0 {
			v = p.log.V(2)
		}
		v.Info("Synced IPVS", "full", s.Full, "virtualServers", s.VirtualServers, "realServers", s.RealServers,
			"addresses", s.Addresses, "duration", res.Duration)
	}
	if p.cfg.OnSync != nil {
		p.cfg.OnSync(res)
	}
	return res.Err
}

// syncOnce computes the desired state and puts it into the kernel; it returns that state.
func (p *Proxier) syncOnce(full bool) (State, SyncStats, error) {
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return State{}, SyncStats{}, fmt.Errorf("list services: %w", err)
	}
	slices, err := p.slices.List(labels.Everything())
	if err != nil {
		return State{}, SyncStats{}, fmt.Errorf("list endpointslices: %w", err)
	}
	nodeIPs := p.cfg.NodeIPs
	if p.cfg.NodeAddresses != nil {
		if nodeIPs, err = p.cfg.NodeAddresses(); err != nil {
			return State{}, SyncStats{}, fmt.Errorf("node addresses: %w", err)
		}
	}
	st := Compute(svcs, slices, Options{NodeIPs: nodeIPs, Scheduler: p.cfg.Scheduler})
	stats, err := p.syncer.Sync(st, full)
	if err != nil {
		return st, stats, err
	}
	if p.cfg.Masquerade != nil {
		if err := p.cfg.Masquerade.Sync(masqueradeSet(st), stats.Full); err != nil {
			return st, stats, fmt.Errorf("masquerade: %w", err)
		}
	}
	if len(stats.StaleUDP) > 0 && p.cfg.Conntrack != nil {
		// The table is right; a failed flush only delays clients, so it is reported, not retried.
		if err := p.cfg.Conntrack.FlushUDP(stats.StaleUDP); err != nil {
			p.log.Error(err, "Flushing stale UDP conntrack entries failed")
		}
	}
	return st, stats, nil
}
