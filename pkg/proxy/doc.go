// Package proxy programs Service virtual IPs into the kernel's IPVS load balancer, as kube-proxy's
// IPVS mode does: informers on Services and EndpointSlices record changes and poke a
// bounded-frequency runner; each sync computes the whole desired state (Compute, pure), ensures it
// in the kernel through the small IPVS and Addresses interfaces (Syncer: only changed virtual
// servers are touched; a periodic full sync compares with the kernel and removes what the proxy
// owns but does not want), keeps the nftables masquerade set in line, and flushes UDP conntrack
// entries of removed endpoints. VIPs are bound to the dummy device kube-ipvs0.
//
// The proxy owns every address/port IPVS service in its network namespace (firewall-mark services
// are left alone), every address on kube-ipvs0 and the nftables table kubelet-lite-proxy.
//
// Wiring:
//
//	if err := proxy.Available(); err != nil { /* say so, run without the proxy */ }
//	ipvs, err := proxy.NewKernelIPVS("")
//	p, err := proxy.New(proxy.Config{
//		Client:     clientset,
//		IPVS:       ipvs,
//		Addresses:  proxy.NewDummy("", nil),
//		Conntrack:  proxy.NewKernelConntrack(nil),
//		Masquerade: proxy.NewNFTMasquerade(proxy.MasqueradeConfig{ClusterCIDR: podCIDR}, 0),
//		Sysctls:    &proxy.Sysctls{Root: "/proc/sys"},
//		NodeIPs:    nodeIPs,
//		Metrics:    metrics, // proxy.NewMetrics(), registered through metrics.Collectors()
//		Logger:     logger,
//	})
//	go p.Run(ctx) // returns when ctx ends, or at once with an error (sysctls, caches)
package proxy
