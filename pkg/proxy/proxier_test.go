package proxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
	"github.com/kubelet-lite/kubelet-lite/pkg/proxy/proxytest"
)

// webService is a ClusterIP Service "web" in "default" on vip:80 → targetPort 8080.
func webService(vip string) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: v1.ServiceSpec{
			Type: v1.ServiceTypeClusterIP, ClusterIP: vip, ClusterIPs: []string{vip},
			Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
}

// webSlice is the EndpointSlice of "web" with ready endpoints at ips, port 8080.
func webSlice(ips ...string) *discovery.EndpointSlice {
	sl := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-abc",
			Labels: map[string]string{discovery.LabelServiceName: "web"}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	for _, ip := range ips {
		sl.Endpoints = append(sl.Endpoints, discovery.Endpoint{Addresses: []string{ip},
			Conditions: discovery.EndpointConditions{Ready: ptr.To(true)}})
	}
	return sl
}

// backendIPs returns n addresses 10.244.0.1, 10.244.0.2, ...
func backendIPs(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("10.244.0.%d", i))
	}
	return out
}

// syncs collects the proxier's sync results. stop ends the proxier before the test does.
type syncs struct {
	mu   sync.Mutex
	all  []proxy.SyncResult
	stop func()
}

func (s *syncs) add(r proxy.SyncResult) {
	s.mu.Lock()
	s.all = append(s.all, r)
	s.mu.Unlock()
}

func (s *syncs) latencies() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, r := range s.all {
		out = append(out, r.Latencies...)
	}
	return out
}

// waitOK waits until a sync has succeeded.
func (s *syncs) waitOK(t testing.TB) {
	t.Helper()
	eventually(t, 60*time.Second, "a successful sync", func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		last := "no sync yet"
		for _, r := range s.all {
			if r.Err == nil {
				return ""
			}
			last = r.Err.Error()
		}
		return last
	})
}

// startProxier runs a Proxier on client with the given kernel parts until the test ends.
func startProxier(t testing.TB, client kubernetes.Interface, ipvs proxy.IPVS, addrs proxy.Addresses, cfg proxy.Config) *syncs {
	t.Helper()
	logger, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	s := &syncs{}
	cfg.Client, cfg.IPVS, cfg.Addresses, cfg.Logger, cfg.OnSync = client, ipvs, addrs, logger, s.add
	if cfg.MinSyncPeriod == 0 {
		cfg.MinSyncPeriod = 10 * time.Millisecond
	}
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	s.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(s.stop)
	return s
}

// eventually polls cond until it returns "" (satisfied) or timeout passes, then fails with its
// last answer.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		if last = cond(); last == "" {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not after %v: %s", what, timeout, last)
	return 0
}

func diff(got, want []string) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	return fmt.Sprintf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
}

func webDump(vsLine string, ips ...string) []string {
	out := []string{vsLine}
	for _, ip := range ips {
		out = append(out, "  "+ip+":8080 w=1")
	}
	return out
}

func TestProxierFollowsServicesAndSlices(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	ipvs, addrs := proxytest.NewIPVS(), proxytest.NewAddresses()
	s := startProxier(t, client, ipvs, addrs, proxy.Config{})
	expect := func(what string, want, wantAddrs []string) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() string {
			if d := diff(ipvs.Dump(), want); d != "" {
				return d
			}
			return diff(addrs.Dump(), wantAddrs)
		})
	}

	svc := webService("10.96.0.10")
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, webSlice(backendIPs(3)...), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect("3 endpoints", webDump("10.96.0.10:80/TCP rr", backendIPs(3)...), []string{"10.96.0.10"})

	for _, n := range []int{5, 1} {
		sl.Endpoints = webSlice(backendIPs(n)...).Endpoints
		if sl, err = client.DiscoveryV1().EndpointSlices("default").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		expect(fmt.Sprintf("scaled to %d", n), webDump("10.96.0.10:80/TCP rr", backendIPs(n)...), []string{"10.96.0.10"})
	}

	svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](100)}}
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("ClientIP affinity", webDump("10.96.0.10:80/TCP rr persistent=100", backendIPs(1)...), []string{"10.96.0.10"})

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("Service deleted", nil, nil)

	if lat := s.latencies(); len(lat) < 5 {
		t.Errorf("%d programming latencies reported, want one per change (at least 5)", len(lat))
	}
}

func TestProxierRequiresParts(t *testing.T) {
	if _, err := proxy.New(proxy.Config{IPVS: proxytest.NewIPVS(), Addresses: proxytest.NewAddresses()}); err == nil {
		t.Errorf("New without a Client succeeded")
	}
	if _, err := proxy.New(proxy.Config{Client: fake.NewClientset(), Addresses: proxytest.NewAddresses()}); err == nil {
		t.Errorf("New without IPVS succeeded")
	}
}

// TestProxierMetrics checks that the gauges count what the sync left in the (fake) kernel, a
// draining endpoint apart, and that every applied change is observed in both latency histograms,
// the trigger-time one going back to the EndpointSlice's last-change-trigger-time.
func TestProxierMetrics(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	ipvs, addrs := proxytest.NewIPVS(), proxytest.NewAddresses()
	m := proxy.NewMetrics()
	startProxier(t, client, ipvs, addrs, proxy.Config{
		Metrics: m,
		NodeAddresses: func() ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("192.0.2.7")}, nil
		},
	})
	svc := webService("10.96.0.10")
	svc.Spec.Type = v1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = 30080
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl := webSlice(backendIPs(3)...)
	sl.Endpoints[2].Conditions = discovery.EndpointConditions{
		Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	// The change was triggered a minute ago in the cluster's time.
	sl.Annotations = map[string]string{v1.EndpointsLastChangeTriggerTime: time.Now().Add(-time.Minute).Format(time.RFC3339Nano)}
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gauges := func() string {
		return fmt.Sprintf("vs=%v serving=%v draining=%v addrs=%v",
			testutil.ToFloat64(m.VirtualServers), testutil.ToFloat64(m.RealServers.WithLabelValues("serving")),
			testutil.ToFloat64(m.RealServers.WithLabelValues("draining")), testutil.ToFloat64(m.Addresses))
	}
	// The ClusterIP and the NodePort on 192.0.2.7: two virtual servers of 2 serving and 1
	// draining real servers each; one VIP on the dummy device.
	const want = "vs=2 serving=4 draining=2 addrs=1"
	eventually(t, 30*time.Second, "the gauges", func() string {
		if g := gauges(); g != want {
			return g
		}
		return ""
	})
	if !slices.Contains(ipvs.Dump(), "192.0.2.7:30080/TCP rr") {
		t.Errorf("no NodePort on the node address: %v", ipvs.Dump())
	}
	// Changes delivered before the informers' first sync may be applied by a later sync.
	eventually(t, 30*time.Second, "both changes observed", func() string {
		if n := histogram(t, m.DeliveryLatency).GetSampleCount(); n < 2 {
			return fmt.Sprintf("%d observations", n)
		}
		return ""
	})
	trigger, delivery := histogram(t, m.ProgrammingLatency), histogram(t, m.DeliveryLatency)
	if delivery.GetSampleCount() != trigger.GetSampleCount() {
		t.Fatalf("observations: %d by trigger time, %d by delivery; want one per change in each (2)",
			trigger.GetSampleCount(), delivery.GetSampleCount())
	}
	if trigger.GetSampleSum() < 60 {
		t.Errorf("trigger-time latencies sum to %.1fs; the slice's change was a minute old", trigger.GetSampleSum())
	}
	if delivery.GetSampleSum() > 30 {
		t.Errorf("delivery latencies sum to %.1fs; want the node's share only", delivery.GetSampleSum())
	}
}

func histogram(t *testing.T, h prometheus.Histogram) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}
