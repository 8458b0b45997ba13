//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestClusterServiceProxy brings up hack/cluster with the node in the node
// VM (--proxy-mode ipvs there) and drives Services through the kernel's
// IPVS on it:
//   - a ClusterIP Service over a 3-replica Deployment answers at its VIP
//     from a pod, from all 3 backends (no cluster DNS runs, so by VIP);
//   - scaling to 5, and later to 1, is in IPVS within 1 s of the change's
//     delivery to the node, and the real servers match;
//   - a NodePort Service with ClientIP affinity keeps a pod on one backend
//     and answers from the node's own network namespace at its address;
//   - a backend whose readiness fails gets no new connections, and the
//     client held to it by affinity moves to another;
//   - deleting the Service removes its virtual server and its VIP, and
//     nothing answers there.
//
// Clients are pods that connect in a loop and log which backend answered
// (the httpserver image answers with its pod name); kubectl logs is how the
// test sees them. What is in IPVS the test reads from the node's /metrics
// (virtual and real servers and VIPs the last sync left in the kernel, and
// the delivery-to-kernel latency of each change), through the kubelet API's
// forwarded port on host loopback.
//
// It is not parallel: up.sh builds bin/kubelet-lite, which the other tests
// run.
func TestClusterServiceProxy(t *testing.T) {
	const nodeName = "proxy-node"
	repo := makeupRepo(t)
	dir := t.TempDir()
	env := append(os.Environ(), "KL_CLUSTER_DIR="+dir)
	script := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(repo, "hack/cluster", name), args...)
		cmd.Dir, cmd.Env = repo, env
		cmd.WaitDelay = 10 * time.Second
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() {
		if t.Failed() {
			makeupLogTails(t, dir)
			proxywireGuestLog(t, dir)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := script(ctx, "down.sh", "--dir", dir); err != nil {
			t.Errorf("down.sh: %v\n%s", err, out)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := script(ctx, "up.sh", "--dir", dir, "--node", nodeName, "--agent", "vm"); err != nil {
		t.Fatalf("up.sh: %v\n%s", err, out)
	}
	t.Logf("up.sh returned after %s", time.Since(start).Round(time.Second))
	kubeconfig := filepath.Join(dir, "admin.kubeconfig")
	k := makeupKubectl(kubeconfig)
	apply := func(manifest string) {
		t.Helper()
		if out, err := k(manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	cs, metrics := proxywireClients(t, kubeconfig, nodeName)

	apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: kubelet-lite.local/httpserver:v1
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 2
          timeoutSeconds: 5
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`)
	vip := proxywireField(t, k, "service", "web", "{.spec.clusterIP}")
	backends := proxywireReady(t, cs, "web", 3, "")
	t.Logf("Service web at %s over %v", vip, backends)

	web := proxywireClient{t: t, k: k, name: "client"}
	apply(web.manifest(vip+" 80", false))
	seen := web.waitAll(backends)
	t.Logf("answers at the VIP over %d connections: %v", web.seq, seen)

	// What the node had in IPVS besides web's one virtual server and its 3
	// real servers (the kubernetes Service's).
	st := metrics.waitFor("web's 3 real servers", func(s proxywireState) bool { return s.serving >= 3 })
	other := proxywireState{vs: st.vs - 1, serving: st.serving - 3, addrs: st.addrs - 1}
	t.Logf("IPVS: %s, of which not web's: %s", st, other)
	// webVS is the number of virtual servers whose real servers are web's
	// pods: web's ClusterIP, later also sticky's ClusterIP and NodePorts.
	want := func(webVS, n float64) func(proxywireState) bool {
		return func(s proxywireState) bool {
			return s.vs == other.vs+webVS && s.serving == other.serving+webVS*n
		}
	}

	scale := func(n int) {
		t.Helper()
		before := metrics.read()
		if out, err := k("", "scale", "deployment", "web", "--replicas", strconv.Itoa(n)); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		backends = proxywireReady(t, cs, "web", n, "")
		sliced := time.Now()
		st := metrics.waitFor(fmt.Sprintf("IPVS with %d real servers per web virtual server", n),
			want(before.vs-other.vs, float64(n)))
		t.Logf("scaled to %d: IPVS had it %s after the host saw the EndpointSlice; %s",
			n, time.Since(sliced).Round(time.Millisecond), st)
		metrics.within1s(before, st)
	}
	scale(5)

	// A NodePort Service with ClientIP affinity: a pod stays on one backend
	// at its VIP, and a hostNetwork pod reaches it at the node's address.
	apply(`apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{port: 80, targetPort: 8080}]
`)
	stickyVIP := proxywireField(t, k, "service", "sticky", "{.spec.clusterIP}")
	nodePort := proxywireField(t, k, "service", "sticky", "{.spec.ports[0].nodePort}")
	st = metrics.waitFor("sticky's virtual servers", func(s proxywireState) bool {
		// Its ClusterIP and at least one node address.
		return s.vs >= other.vs+3 && s.serving == other.serving+(s.vs-other.vs)*5
	})
	t.Logf("IPVS with sticky: %s", st)
	sticky := proxywireClient{t: t, k: k, name: "sticky-client"}
	apply(sticky.manifest(stickyVIP+" 80", false))
	const affine = 10
	stuck := sticky.waitRun("affinity holds the pod to one backend", affine, backends)
	t.Logf("ClientIP affinity: the last %d answers at %s all from %s", affine, stickyVIP, stuck)

	// The guest's own address, as its eth0 has it; nodeport-client runs in
	// the node's network namespace.
	nodeClient := proxywireClient{t: t, k: k, name: "nodeport-client"}
	apply(nodeClient.manifest(`$(ip -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]}') `+nodePort, true))
	nodeClient.waitRun("answers at the NodePort from the node's network namespace", 3, backends)
	t.Logf("NodePort %s answers from the node's network namespace", nodePort)

	// The backend sticky-client is held to fails its readiness: no new
	// connection goes to it, and affinity moves the client elsewhere.
	ip := proxywireField(t, k, "pod", stuck, "{.status.podIP}")
	before := metrics.read()
	apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: make-unready, namespace: default}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: ask
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", "printf 'GET /unready HTTP/1.0\\r\\n\\r\\n' | nc -w 3 %s 8080"]
`, busybox, ip))
	backends = proxywireReady(t, cs, "web", 4, stuck)
	st = metrics.waitFor("IPVS without the unready backend", want(before.vs-other.vs, 4))
	metrics.within1s(before, st)
	for _, c := range []*proxywireClient{&web, &sticky} {
		c.mark()
		got := c.waitAnswers(fmt.Sprintf("%d more answers", affine), affine)
		for _, n := range got {
			if n == stuck || !slices.Contains(backends, n) {
				t.Errorf("%s got an answer from %q after %s was taken out of IPVS; ready backends %v (answers %v)",
					c.name, n, stuck, backends, got)
				break
			}
		}
	}
	t.Logf("after %s failed its readiness, %s answers from %v", stuck, sticky.name, sticky.names(sticky.seq-affine))

	// The clients that are done go first: the guest is an emulated 2-CPU
	// machine, and their loops and teardown would compete with the scale.
	if out, err := k("", "delete", "pod", "sticky-client", "nodeport-client", "make-unready", "--wait=true", "--timeout=120s"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	scale(1)
	web.mark()
	web.waitRun(fmt.Sprintf("the last %d answers at the VIP from the one backend left", 15), 15, backends)

	before = metrics.read()
	if out, err := k("", "delete", "service", "web", "--wait=true", "--timeout=60s"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	st = metrics.waitFor("web's virtual server and VIP removed", func(s proxywireState) bool {
		return s.vs == before.vs-1 && s.addrs == before.addrs-1 && s.serving == before.serving-1
	})
	t.Logf("Service deleted: %s", st)
	web.mark()
	deleted := time.Now()
	web.waitRun("nothing answers at the VIP", 5, []string{"none"})
	t.Logf("the VIP stopped answering %s after the Service was deleted", time.Since(deleted).Round(time.Second))
}

// proxywireClient is a pod that connects to a target in a loop and logs
// one line per connection, "ans SEQ NAME", NAME being "none" when nothing
// answered. HTTP/1.0 makes the server close after its answer, whose last
// line is its pod name.
type proxywireClient struct {
	t     *testing.T
	k     func(stdin string, args ...string) (string, error)
	name  string
	seq   int // the last sequence number read
	floor int // answers up to this one came before the mark
	all   map[int]string
}

// manifest is the client pod for target, "HOST PORT" (shell words).
func (c *proxywireClient) manifest(target string, hostNetwork bool) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default}
spec:
  hostNetwork: %t
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: %s
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      i=0
      while true; do
        i=$((i+1))
        r=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 nc -w 3 %s 2>/dev/null | tail -n 1 | tr -d '\r')
        echo "ans $i ${r:-none}"
        sleep 0.5
      done
`, c.name, hostNetwork, busybox, target)
}

// read reads the client's log into all.
func (c *proxywireClient) read() error {
	out, err := c.k("", "logs", c.name)
	if err != nil {
		return err
	}
	if c.all == nil {
		c.all = map[int]string{}
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "ans" {
			continue
		}
		seq, err := strconv.Atoi(f[1])
		if err != nil || seq <= c.floor {
			continue
		}
		c.all[seq] = f[2]
		c.seq = max(c.seq, seq)
	}
	return nil
}

// names are the answers after the mark and after seq after, in order.
func (c *proxywireClient) names(after int) []string {
	var out []string
	for s := max(after, c.floor) + 1; s <= c.seq; s++ {
		if n, ok := c.all[s]; ok {
			out = append(out, n)
		}
	}
	return out
}

// mark reads the log so that later waits see only connections made from
// now on.
func (c *proxywireClient) mark() {
	c.t.Helper()
	if err := c.read(); err != nil {
		c.t.Fatal(err)
	}
	c.floor, c.all = c.seq, nil
}

// waitAll waits until each of backends has answered, and fails on an
// answer from anything else.
func (c *proxywireClient) waitAll(backends []string) map[string]int {
	c.t.Helper()
	var seen map[string]int
	eventually(c.t, 5*time.Minute, c.name+": every backend answers", func() (bool, string) {
		if err := c.read(); err != nil {
			return false, err.Error()
		}
		seen = map[string]int{}
		for _, n := range c.names(0) {
			seen[n]++
		}
		for _, b := range backends {
			if seen[b] == 0 {
				return false, fmt.Sprintf("answers so far: %v", seen)
			}
		}
		return true, ""
	})
	for n := range seen {
		if n != "none" && !slices.Contains(backends, n) {
			c.t.Errorf("%s: %q answered; the backends are %v", c.name, n, backends)
		}
	}
	return seen
}

// waitAnswers waits for n answers from connections after the mark.
func (c *proxywireClient) waitAnswers(what string, n int) []string {
	c.t.Helper()
	var got []string
	eventually(c.t, 2*time.Minute, c.name+": "+what, func() (bool, string) {
		if err := c.read(); err != nil {
			return false, err.Error()
		}
		got = slices.DeleteFunc(c.names(0), func(s string) bool { return s == "" })
		return len(got) >= n, fmt.Sprintf("%d answers: %v", len(got), got)
	})
	return got[:n]
}

// waitRun waits until the last run answers were all the same one of
// allowed, and returns it.
func (c *proxywireClient) waitRun(what string, run int, allowed []string) string {
	c.t.Helper()
	var one string
	eventually(c.t, 2*time.Minute, c.name+": "+what, func() (bool, string) {
		if err := c.read(); err != nil {
			return false, err.Error()
		}
		names := c.names(0)
		if len(names) < run {
			return false, fmt.Sprintf("%d answers: %v", len(names), names)
		}
		tail := names[len(names)-run:]
		for _, n := range tail {
			if n != tail[0] || !slices.Contains(allowed, n) {
				return false, fmt.Sprintf("last answers %v; allowed %v", tail, allowed)
			}
		}
		one = tail[0]
		return true, ""
	})
	return one
}

// proxywireField is one jsonpath field of an object, waited for until set.
func proxywireField(t *testing.T, k func(string, ...string) (string, error), kind, name, path string) string {
	t.Helper()
	var v string
	eventually(t, time.Minute, kind+" "+name+" "+path, func() (bool, string) {
		var err error
		v, err = k("", "get", kind, name, "-o", "jsonpath="+path)
		return err == nil && v != "", fmt.Sprint(err)
	})
	return v
}

// proxywireReady waits until the Service's EndpointSlices hold exactly n
// ready endpoints, none of them the pod without, and returns their pods'
// names, sorted.
func proxywireReady(t *testing.T, cs kubernetes.Interface, service string, n int, without string) []string {
	t.Helper()
	var names []string
	eventually(t, 5*time.Minute, fmt.Sprintf("%d ready endpoints of %s", n, service), func() (bool, string) {
		list, err := cs.DiscoveryV1().EndpointSlices("default").List(context.Background(),
			metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + service})
		if err != nil {
			return false, err.Error()
		}
		names = nil
		for _, sl := range list.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready && ep.TargetRef != nil {
					names = append(names, ep.TargetRef.Name)
				}
			}
		}
		return len(names) == n && !slices.Contains(names, without), fmt.Sprintf("ready: %v", names)
	})
	slices.Sort(names)
	return names
}

// proxywireState is what the node's /metrics says its last sync left in
// IPVS, and how many changes it programmed within 1 s of their delivery.
type proxywireState struct {
	vs, serving, draining, addrs float64
	changes, within1s            uint64
	syncs, syncErrors            uint64
	syncSeconds                  float64
}

func (s proxywireState) String() string {
	return fmt.Sprintf("%v virtual servers, %v serving and %v draining real servers, %v VIPs",
		s.vs, s.serving, s.draining, s.addrs)
}

type proxywireMetrics struct {
	t      *testing.T
	client *http.Client
	url    string
}

// proxywireClients returns an admin clientset, and a reader of the node's
// /metrics through the kubelet API, at the address and port the Node
// reports (the node VM's port forwarded to host loopback), with the
// admin's client certificate, verifying the serving certificate against
// the cluster CA.
func proxywireClients(t *testing.T, kubeconfig, nodeName string) (kubernetes.Interface, *proxywireMetrics) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var addr string
	for _, a := range node.Status.Addresses {
		if a.Type == "InternalIP" {
			addr = a.Address
		}
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	kcfg := rest.CopyConfig(cfg)
	kcfg.Host = (&url.URL{Scheme: "https", Host: fmt.Sprintf("%s:%d", addr, port)}).String()
	hc, err := rest.HTTPClientFor(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	hc.Timeout = 10 * time.Second
	return cs, &proxywireMetrics{t: t, client: hc, url: kcfg.Host + "/metrics"}
}

func (m *proxywireMetrics) get() (proxywireState, error) {
	resp, err := m.client.Get(m.url)
	if err != nil {
		return proxywireState{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return proxywireState{}, fmt.Errorf("GET %s: %s", m.url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return proxywireState{}, fmt.Errorf("parse %s: %w", m.url, err)
	}
	gauge := func(name, state string) float64 {
		for _, mt := range fams[name].GetMetric() {
			if state == "" || proxywireLabel(mt, "state") == state {
				return mt.GetGauge().GetValue()
			}
		}
		return -1
	}
	s := proxywireState{
		vs:       gauge("kubelet_lite_proxy_ipvs_virtual_servers", ""),
		serving:  gauge("kubelet_lite_proxy_ipvs_real_servers", "serving"),
		draining: gauge("kubelet_lite_proxy_ipvs_real_servers", "draining"),
		addrs:    gauge("kubelet_lite_proxy_ipvs_addresses", ""),
	}
	if s.vs < 0 || s.serving < 0 || s.addrs < 0 {
		return s, fmt.Errorf("%s has no IPVS gauges yet", m.url)
	}
	for _, mt := range fams["kubeproxy_sync_proxy_rules_duration_seconds"].GetMetric() {
		s.syncs, s.syncSeconds = mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
	}
	for _, mt := range fams["kubelet_lite_proxy_sync_errors_total"].GetMetric() {
		s.syncErrors = uint64(mt.GetCounter().GetValue())
	}
	for _, mt := range fams["kubelet_lite_proxy_delivery_to_kernel_duration_seconds"].GetMetric() {
		h := mt.GetHistogram()
		s.changes = h.GetSampleCount()
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == 1 {
				s.within1s = b.GetCumulativeCount()
			}
		}
	}
	return s, nil
}

func proxywireLabel(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func (m *proxywireMetrics) read() proxywireState {
	m.t.Helper()
	s, err := m.get()
	if err != nil {
		m.t.Fatal(err)
	}
	return s
}

// waitFor polls /metrics every 50 ms until cond holds.
func (m *proxywireMetrics) waitFor(what string, cond func(proxywireState) bool) proxywireState {
	m.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := m.get()
		if err == nil && cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: not after 2m; last: %v %v", what, s, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// within1s checks that every change the node programmed between two reads
// was in the kernel within 1 s of its delivery to the node.
func (m *proxywireMetrics) within1s(before, after proxywireState) {
	m.t.Helper()
	n, fast := after.changes-before.changes, after.within1s-before.within1s
	if n == 0 {
		m.t.Errorf("no change was programmed between the two reads of /metrics")
	}
	if fast != n {
		m.t.Errorf("%d of %d changes were in IPVS more than 1 s after their delivery to the node", n-fast, n)
	}
	syncs := after.syncs - before.syncs
	m.t.Logf("%d changes programmed, %d of them within 1 s of their delivery, in %d syncs of %.0f ms on average, %d failed",
		n, fast, syncs, 1000*(after.syncSeconds-before.syncSeconds)/float64(max(syncs, 1)), after.syncErrors-before.syncErrors)
}

// proxywireGuestLog prints the end of the node VM's console, where the
// agent's log goes.
func proxywireGuestLog(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "node", "out", "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("--- last lines of %s:\n%s", f, strings.Join(lines, "\n"))
	}
}
