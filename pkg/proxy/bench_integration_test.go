//go:build vm && integration

package proxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubelet-lite/kubelet-lite/pkg/proxy"
)

// benchTimeout bounds each wait of the benchmark; the node VM is slow.
const benchTimeout = 20 * time.Minute

// benchRow is what BenchmarkKernelProxier measures for one number of Services.
type benchRow struct {
	services int
	// firstSync is the proxier's first (full) sync; firstWall is from starting the proxier until
	// that sync ended (informer start and cache sync included).
	firstSync, firstWall time.Duration
	// resync is a full sync with nothing to change: a second proxier adopting the first one's
	// table, which runs the same code as the periodic resync.
	resync time.Duration
	// change is from an EndpointSlice update until the kernel lists the new real servers.
	change []time.Duration
	// connFirst and connLast are TCP connect times to the first and the last Service's VIP.
	connFirst, connLast []time.Duration
}

// BenchmarkKernelProxier programs 1 000, 5 000 and 10 000 Services (KL_PROXY_BENCH_SIZES) with 3
// endpoints each through the Proxier into the kernel's IPVS, kube-ipvs0 and the nftables
// masquerade, and prints a table. Run it in the node VM with hack/proxy-bench.sh; it is not a pass/
// fail test, but it fails when the kernel does not end up as programmed.
func BenchmarkKernelProxier(b *testing.B) {
	sizes := []int{1000, 5000, 10000}
	if v := os.Getenv("KL_PROXY_BENCH_SIZES"); v != "" {
		sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				b.Fatalf("KL_PROXY_BENCH_SIZES=%q: want a comma-separated list of counts >= 2", v)
			}
			sizes = append(sizes, n)
		}
	}
	var rows []benchRow
	for _, n := range sizes {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			row := benchProxier(b, n)
			b.ReportMetric(row.firstSync.Seconds(), "full-sync-s")
			b.ReportMetric(row.resync.Seconds(), "resync-s")
			b.ReportMetric(benchMedian(row.change).Seconds()*1000, "change-ms")
			rows = append(rows, row)
		})
	}
	fmt.Print(benchTable(rows))
}

func benchProxier(b *testing.B, count int) benchRow {
	benchSettle(b)
	n := newNode(b)
	mustOK(b, inNetns(n.ns, func() error { return (&proxy.Sysctls{Root: "/proc/sys"}).EnsureIPVS() }))
	var backends []string
	for i := 1; i <= 3; i++ {
		backends = append(backends, n.addBackend(b, i))
	}
	// A second handle reads the kernel back, so polling does not queue behind the proxier's calls.
	reader, err := proxy.NewKernelIPVS(nsPath(n.ns))
	mustOK(b, err)
	b.Cleanup(reader.Close)

	svcs := scaleServices(count)
	sls := scaleSlices(svcs, 3)
	// The first and the last Service lead to the real backends.
	for _, i := range []int{0, count - 1} {
		sls[i].Endpoints = webSlice(backends...).Endpoints
	}
	var objs []runtime.Object
	for i := range svcs {
		objs = append(objs, svcs[i], sls[i])
	}
	client := fake.NewClientset(objs...)
	cfg := proxy.Config{
		Masquerade:    proxy.NewNFTMasquerade(proxy.MasqueradeConfig{ClusterCIDR: netip.MustParsePrefix("10.250.0.0/16")}, int(n.ns)),
		MinSyncPeriod: 250 * time.Millisecond, // the agent's default
		SyncPeriod:    time.Hour,              // no periodic resync during the measurements
	}
	row := benchRow{services: count}

	start := time.Now()
	first := startProxier(b, client, n.ipvs, n.addrs, cfg)
	res := benchFirstSync(b, first)
	row.firstWall, row.firstSync = time.Since(start), res.Duration
	benchCheckKernel(b, n, reader, count)

	vip := func(i int) string { return svcs[i].Spec.ClusterIP + ":80" }
	row.connFirst = benchConnect(b, n, vip(0))
	row.connLast = benchConnect(b, n, vip(count-1))

	// One EndpointSlice in the middle goes from 3 endpoints to 2 and back, a few times, each change
	// after a quiet MinSyncPeriod, so the runner syncs it at once.
	mid := sls[count/2]
	key := proxy.VSKey{Address: netip.MustParseAddr(svcs[count/2].Spec.ClusterIP), Port: 80, Protocol: proxy.TCP}
	all := mid.Endpoints
	for i := range 6 {
		eps := all[:2]
		if i%2 == 1 {
			eps = all
		}
		time.Sleep(cfg.MinSyncPeriod)
		var took time.Duration
		mid, took = benchChange(b, client, reader, mid, eps, key)
		row.change = append(row.change, took)
	}

	first.stop()
	second := startProxier(b, client, n.ipvs, n.addrs, cfg)
	res = benchFirstSync(b, second)
	if s := res.Stats; !s.Full || s.VirtualServers+s.RealServers+s.Addresses != 0 {
		b.Errorf("the resync with nothing to change changed %d virtual servers, %d real servers, %d addresses",
			s.VirtualServers, s.RealServers, s.Addresses)
	}
	row.resync = res.Duration
	second.stop()
	b.Logf("%d services: first sync %v (%v from start), resync %v, change→kernel %v, connect first %v last %v",
		count, row.firstSync, row.firstWall, row.resync, row.change, row.connFirst, row.connLast)
	return row
}

// benchSettle waits (up to 10 minutes) until the machine is 90 % idle over a second: the kernel
// tears down the previous size's network namespace, 10 000 virtual servers and VIPs, in the
// background, and would otherwise slow the next size's measurements down.
func benchSettle(b *testing.B) {
	b.Helper()
	goruntime.GC()
	start := time.Now()
	for {
		busy1, total1 := benchCPU(b)
		time.Sleep(time.Second)
		busy2, total2 := benchCPU(b)
		idle := 1 - float64(busy2-busy1)/float64(max(total2-total1, 1))
		if idle >= 0.9 {
			b.Logf("settled in %v (%.0f %% idle)", time.Since(start).Round(time.Second), idle*100)
			return
		}
		if time.Since(start) > 10*time.Minute {
			b.Logf("not settled after %v (%.0f %% idle); measuring anyway", time.Since(start).Round(time.Second), idle*100)
			return
		}
	}
}

// benchCPU returns the busy and total ticks of all CPUs from /proc/stat.
func benchCPU(b *testing.B) (busy, total uint64) {
	b.Helper()
	data, err := os.ReadFile("/proc/stat")
	mustOK(b, err)
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		mustOK(b, err)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// benchFirstSync waits for the proxier's first sync and returns it; it must have succeeded.
func benchFirstSync(b *testing.B, s *syncs) proxy.SyncResult {
	b.Helper()
	var res proxy.SyncResult
	eventually(b, benchTimeout, "the first sync", func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.all) == 0 {
			return "no sync yet"
		}
		res = s.all[0]
		return ""
	})
	if res.Err != nil {
		b.Fatalf("first sync: %v", res.Err)
	}
	return res
}

// benchCheckKernel fails unless the kernel holds count virtual servers and VIPs.
func benchCheckKernel(b *testing.B, n *node, reader proxy.IPVS, count int) {
	b.Helper()
	vss, err := reader.VirtualServers()
	mustOK(b, err)
	addrs, err := n.addrs.List()
	mustOK(b, err)
	if len(vss) != count || len(addrs) != count {
		b.Fatalf("kernel holds %d virtual servers and %d VIPs, want %d each", len(vss), len(addrs), count)
	}
}

// benchConnect connects to addr from the node 20 times (after one to warm up) and returns the
// connect times; every connection must reach a backend.
func benchConnect(b *testing.B, n *node, addr string) []time.Duration {
	b.Helper()
	var out []time.Duration
	for i := range 21 {
		answer, took, err := askTimed(n.ns, addr)
		if err != nil {
			b.Fatalf("connect to %s: %v", addr, err)
		}
		if !strings.HasPrefix(answer, "backend-") {
			b.Fatalf("connect to %s: answer %q is not from a backend", addr, answer)
		}
		if i > 0 {
			out = append(out, took)
		}
	}
	return out
}

// benchChange updates sl to the endpoints eps and returns the updated slice and the time from the
// update until the kernel lists exactly those real servers under key.
func benchChange(b *testing.B, client *fake.Clientset, reader proxy.IPVS, sl *discovery.EndpointSlice, eps []discovery.Endpoint, key proxy.VSKey) (*discovery.EndpointSlice, time.Duration) {
	b.Helper()
	var want []string
	for _, e := range eps {
		want = append(want, e.Addresses[0]+":8080")
	}
	slices.Sort(want)
	sl = sl.DeepCopy()
	sl.Endpoints = eps
	start := time.Now()
	sl, err := client.DiscoveryV1().EndpointSlices(sl.Namespace).Update(context.Background(), sl, metav1.UpdateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for {
		rss, err := reader.RealServers(key)
		mustOK(b, err)
		var got []string
		for _, r := range rss {
			got = append(got, r.Key().String())
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return sl, time.Since(start)
		}
		if time.Since(start) > benchTimeout {
			b.Fatalf("%s has real servers %v, want %v, %v after the EndpointSlice update", key, got, want, benchTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func benchMedian(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func benchTable(rows []benchRow) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-9s %-22s %-12s %-22s %-22s %-22s\n", "services", "first full sync (wall)", "no-op resync",
		"change→kernel med/max", "connect first med/max", "connect last med/max")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
	medMax := func(ds []time.Duration) string { return ms(benchMedian(ds)) + " / " + ms(slices.Max(ds)) }
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-9d %-22s %-12s %-22s %-22s %-22s\n", r.services,
			fmt.Sprintf("%.2fs (%.2fs)", r.firstSync.Seconds(), r.firstWall.Seconds()),
			fmt.Sprintf("%.2fs", r.resync.Seconds()), medMax(r.change), medMax(r.connFirst), medMax(r.connLast))
	}
	return sb.String()
}
