package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
)

// newServiceProxy builds the IPVS service proxy of --proxy-mode ipvs. It is
// nil with --proxy-mode none, and nil with the reason in unavailable when
// the kernel has no IPVS: the node then runs without it.
func newServiceProxy(cfg config.Config, client kubernetes.Interface, nodeIP net.IP, reg prometheus.Registerer) (p *serviceProxy, unavailable error, err error) {
	if cfg.ProxyMode != config.ProxyModeIPVS {
		return nil, nil, nil
	}
	if err := proxy.Available(); err != nil {
		klog.ErrorS(err, "Running without the service proxy: --proxy-mode ipvs needs the kernel's IPVS")
		return nil, err, nil
	}
	ipvs, err := proxy.NewKernelIPVS("")
	if err != nil {
		return nil, nil, fmt.Errorf("service proxy: %w", err)
	}
	var masq proxy.MasqueradeConfig
	if cfg.ClusterCIDR != "" {
		masq.ClusterCIDR = netip.MustParsePrefix(cfg.ClusterCIDR) // Validate checked it
	}
	metrics := proxy.NewMetrics()
	for _, c := range metrics.Collectors() {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("service proxy metrics: %w", err)
		}
	}
	var nodeIPs []netip.Addr
	if a, ok := netip.AddrFromSlice(nodeIP); ok {
		nodeIPs = append(nodeIPs, a.Unmap())
	}
	addrs, err := proxy.NewAddressWatcher("", nodeIPs)
	if err != nil {
		klog.ErrorS(err, "Reading the node's addresses failed; NodePorts are served on the node IP until they can be read")
	}
	p = &serviceProxy{addrs: addrs}
	p.Proxier, err = proxy.New(proxy.Config{
		Client:     client,
		IPVS:       ipvs,
		Addresses:  proxy.NewDummy("", nil),
		Conntrack:  proxy.NewKernelConntrack(nil),
		Masquerade: proxy.NewNFTMasquerade(masq, 0),
		Sysctls:    &proxy.Sysctls{Root: "/proc/sys"},
		NodeIPs:    nodeIPs,
		// NodePorts on every address of the node, as kube-proxy's IPVS mode without
		// --nodeport-addresses; on the node IP when the node has no other.
		NodeAddresses: addrs.Addresses,
		Metrics:       metrics,
		Logger:        klog.Background().WithName("proxy"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("service proxy: %w", err)
	}
	return p, nil, nil
}

// serviceProxy is the IPVS proxy and the watcher of the node addresses its
// NodePorts are served on.
type serviceProxy struct {
	*proxy.Proxier
	addrs *proxy.AddressWatcher
}

// runServiceProxy runs p until ctx ends; a proxy that cannot start is
// logged and the node goes on without it.
func runServiceProxy(ctx context.Context, p *serviceProxy) {
	go p.addrs.Run(klog.NewContext(ctx, klog.Background().WithName("proxy")), p.Trigger, 200*time.Millisecond)
	if err := p.Run(ctx); err != nil && ctx.Err() == nil {
		klog.ErrorS(err, "Service proxy stopped: Services are not served on this node")
	}
}
