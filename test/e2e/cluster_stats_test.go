//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/kubelet-lite/kubelet-lite/hack/cluster/pki/certs"
	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
	"k8s.io/utils/ptr"
)

// TestClusterStats: the kubelet API serves /stats/summary,
// /metrics/resource and /pods through the apiserver's node proxy, refuses
// them without credentials, and authorizes each on its own node
// subresource (a caller allowed only nodes/stats reads the summary but not
// /pods or /metrics/resource).
//
// This host runs cgroup v1, where the collector reads no pod or container
// cgroup, and the pods have no network but loopback (the CNI bridge runs
// only in the VM), which the summary leaves out: the node's CPU, memory
// (from /proc) and filesystem are checked here, and every pod's and
// container's storage (which needs no cgroup); the pods' and containers' CPU
// and memory figures are for the cgroup v2 VM.
func TestClusterStats(t *testing.T) {
	t.Parallel()
	a, addr, client := stClusterAgent(t)
	lgCleanupPods(t, a, client)
	lgWaitNodeReady(t, client, a.node, 90*time.Second)
	lgWaitDefaultServiceAccount(t, client)
	ctx := context.Background()

	p := lgPod("busy", corev1.RestartPolicyAlways, `exec sleep 3600`)
	p.Spec.NodeName = a.node
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
		Name: "side", Image: busybox, ImagePullPolicy: corev1.PullNever,
		Command: []string{"sh", "-c", "while true; do i=$((i+1)); done"},
	})
	if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	disk := ephDiskPod(a.node)
	if _, err := client.CoreV1().Pods("default").Create(ctx, disk, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := lgWaitPod(t, client, "busy", 90*time.Second, "both containers running", func(p *corev1.Pod) bool {
		running := 0
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Running != nil {
				running++
			}
		}
		return running == 2
	})
	proxy := "/api/v1/nodes/" + a.node + "/proxy"

	t.Run("summary", func(t *testing.T) {
		var s statsapi.Summary
		stGetJSON(t, client, proxy+"/stats/summary", &s)
		n := s.Node
		if n.NodeName != a.node {
			t.Errorf("node name = %q, want %q", n.NodeName, a.node)
		}
		if n.CPU == nil || n.CPU.UsageCoreNanoSeconds == nil || *n.CPU.UsageCoreNanoSeconds == 0 {
			t.Errorf("node cpu = %+v, want a non-zero cumulative usage", n.CPU)
		}
		if n.Memory == nil || n.Memory.WorkingSetBytes == nil || *n.Memory.WorkingSetBytes == 0 ||
			n.Memory.AvailableBytes == nil || *n.Memory.AvailableBytes == 0 {
			t.Errorf("node memory = %+v, want non-zero working set and available bytes", n.Memory)
		}
		if n.Fs == nil || n.Fs.CapacityBytes == nil || *n.Fs.CapacityBytes == 0 {
			t.Errorf("node fs = %+v, want the root dir's filesystem", n.Fs)
		}
		var got *statsapi.PodStats
		for i := range s.Pods {
			if s.Pods[i].PodRef.Name == "busy" {
				got = &s.Pods[i]
			}
		}
		if got == nil {
			t.Fatalf("pod busy not in the summary's pods %+v", s.Pods)
		}
		if got.PodRef.Namespace != "default" || got.PodRef.UID != string(pod.UID) {
			t.Errorf("pod ref = %+v, want default/busy with uid %s", got.PodRef, pod.UID)
		}
		if pod.Status.StartTime == nil || !got.StartTime.Equal(pod.Status.StartTime) {
			t.Errorf("pod start time = %v, want the status's %v", got.StartTime, pod.Status.StartTime)
		}
		var names []string
		for _, c := range got.Containers {
			names = append(names, c.Name)
			if c.StartTime.IsZero() {
				t.Errorf("container %s has no start time", c.Name)
			}
		}
		if strings.Join(names, ",") != "app,side" {
			t.Errorf("containers = %q, want app,side", names)
		}
	})

	t.Run("ephemeral storage", func(t *testing.T) {
		ephCheckStorage(t, client, proxy)
	})

	t.Run("metrics resource", func(t *testing.T) {
		body := stGet(t, client, proxy+"/metrics/resource")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
		if err != nil {
			t.Fatalf("/metrics/resource does not parse: %v\n%s", err, body)
		}
		for _, name := range []string{"node_cpu_usage_seconds_total", "node_memory_working_set_bytes"} {
			f, ok := families[name]
			if !ok || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetCounter().GetValue()+f.GetMetric()[0].GetGauge().GetValue() <= 0 {
				t.Errorf("/metrics/resource: %s = %v, want a positive value\n%s", name, f, body)
			}
		}
	})

	t.Run("pods", func(t *testing.T) {
		var list corev1.PodList
		stGetJSON(t, client, proxy+"/pods", &list)
		if list.Kind != "PodList" || list.APIVersion != "v1" {
			t.Errorf("/pods kind = %s/%s, want v1 PodList", list.APIVersion, list.Kind)
		}
		found := false
		for _, p := range list.Items {
			found = found || (p.Namespace == "default" && p.Name == "busy" && p.UID == pod.UID && len(p.Spec.Containers) == 2)
		}
		if !found {
			t.Errorf("/pods has no default/busy with uid %s and two containers: %d items", pod.UID, len(list.Items))
		}
	})

	t.Run("unauthenticated", func(t *testing.T) {
		for _, path := range []string{"/stats/summary", "/metrics/resource", "/pods"} {
			if code, body := stDirect(t, a, addr, path, ""); code != http.StatusUnauthorized {
				t.Errorf("GET %s without credentials = %d %q, want 401", path, code, body)
			}
		}
	})

	t.Run("stats subresource only", func(t *testing.T) {
		token := stStatsReader(t, client)
		if code, body := stDirect(t, a, addr, "/stats/summary", token); code != http.StatusOK || !strings.Contains(body, `"busy"`) {
			t.Errorf("GET /stats/summary with nodes/stats = %d %.200q, want 200 with pod busy", code, body)
		}
		for _, path := range []string{"/pods", "/metrics/resource"} {
			if code, body := stDirect(t, a, addr, path, token); code != http.StatusForbidden {
				t.Errorf("GET %s with only nodes/stats = %d %.200q, want 403", path, code, body)
			}
		}
	})
	if !a.alive() {
		t.Fatalf("agent exited\n%s", a.log())
	}
}

// ephMiB is what the disk pod writes into its rootfs, its disk emptyDir and
// its memory emptyDir, each.
const ephMiB = 3 << 20

// ephDiskPod writes ephMiB bytes into its writable layer, its emptyDir
// "data" and its memory emptyDir "mem", says so on stdout, and sleeps.
func ephDiskPod(node string) *corev1.Pod {
	p := lgPod("disk", corev1.RestartPolicyAlways, `dd if=/dev/zero of=/rootfs.bin bs=1048576 count=3 &&
		dd if=/dev/zero of=/data/vol.bin bs=1048576 count=3 &&
		dd if=/dev/zero of=/mem/vol.bin bs=1048576 count=3 &&
		echo wrote && exec sleep 3600`)
	p.Spec.NodeName = node
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory},
	}})
	c := &p.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "mem", MountPath: "/mem"})
	return p
}

// ephCheckStorage waits (the agent walks directories at most every 10s, off
// the request) until the summary shows what the disk pod wrote: its
// container's rootfs and the emptyDir "data" at least ephMiB each, its logs
// not empty, the pod's ephemeral storage at least both but below them plus
// the memory emptyDir (which uses no disk, and does not count), and the
// memory emptyDir's own volume stat at least ephMiB (on its tmpfs); and the
// node's imageFs and containerFs in use.
func ephCheckStorage(t *testing.T, client kubernetes.Interface, proxy string) {
	used := func(fs *statsapi.FsStats) uint64 {
		if fs == nil || fs.UsedBytes == nil {
			return 0
		}
		return *fs.UsedBytes
	}
	var last statsapi.PodStats
	eventually(t, 2*time.Minute, "the disk pod's storage in the summary", func() (bool, string) {
		var s statsapi.Summary
		stGetJSON(t, client, proxy+"/stats/summary", &s)
		i := slices.IndexFunc(s.Pods, func(p statsapi.PodStats) bool { return p.PodRef.Name == "disk" })
		if i < 0 || len(s.Pods[i].Containers) != 1 {
			return false, "pod disk with one container not in the summary"
		}
		last = s.Pods[i]
		if rt := s.Node.Runtime; rt == nil || used(rt.ImageFs) == 0 || used(rt.ContainerFs) < ephMiB {
			return false, fmt.Sprintf("node runtime fs = %+v, want the image store's and the writable layers' usage", rt)
		}
		vols := map[string]uint64{}
		for _, v := range last.VolumeStats {
			vols[v.Name] = used(&v.FsStats)
		}
		c := last.Containers[0]
		ok := used(c.Rootfs) >= ephMiB && used(c.Logs) > 0 && vols["data"] >= ephMiB && vols["mem"] >= ephMiB &&
			used(last.EphemeralStorage) >= 2*ephMiB
		return ok, fmt.Sprintf("rootfs %d, logs %d, volumes %v, ephemeral %d", used(c.Rootfs), used(c.Logs), vols, used(last.EphemeralStorage))
	})
	c := last.Containers[0]
	t.Logf("rootfs %+v; logs %+v; ephemeral %+v", ephFs(c.Rootfs), ephFs(c.Logs), ephFs(last.EphemeralStorage))
	if eph := used(last.EphemeralStorage); eph >= 3*ephMiB {
		t.Errorf("ephemeral storage %d bytes, want below %d: the memory emptyDir counted", eph, 3*ephMiB)
	}
	for what, fs := range map[string]*statsapi.FsStats{"rootfs": c.Rootfs, "logs": c.Logs, "ephemeral storage": last.EphemeralStorage} {
		if fs.CapacityBytes == nil || *fs.CapacityBytes < used(fs) || fs.AvailableBytes == nil || fs.InodesUsed == nil || *fs.InodesUsed == 0 {
			t.Errorf("%s = %s, want the filesystem's capacity and available bytes and some inodes used", what, ephFs(fs))
		}
	}
}

// ephFs prints the figures of fs.
func ephFs(fs *statsapi.FsStats) string {
	b, _ := json.Marshal(fs)
	return string(b)
}

// stClusterAgent is clusterAgent with the node's address (and the kubelet
// API's) on the e2e network namespace's node address instead of loopback:
// the apiserver's node proxy refuses loopback addresses ("address not
// allowed").
func stClusterAgent(t *testing.T) (*agent, net.IP, kubernetes.Interface) {
	t.Helper()
	ip := stNodeAddress(t)
	c := cluster.Start(t, cluster.Options{})
	a := newAgent(t)
	ca, err := certs.LoadOrCreateAuthority(filepath.Join(c.Dir, "pki"), "kubelet-lite-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Ensure(filepath.Join(c.Dir, "pki"), "kubelet-stats-"+a.node, certs.Spec{
		CommonName: a.node, DNSNames: []string{a.node}, IPs: []net.IP{ip}, Usage: certs.Server,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.extraArgs = []string{
		"--kubeconfig", c.NodeKubeconfig(t, a.node), "--node-ip", ip.String(),
		"--address", ip.String(), "--port", fmt.Sprint(freePort(t)),
		"--healthz-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--tls-cert-file", serving.CertFile, "--tls-private-key-file", serving.KeyFile, "--client-ca-file", c.CAFile,
	}
	a.start()
	return a, ip, cluster.Client(t, c.AdminKubeconfig)
}

// stNodeAddress is the node address of the e2e network namespace
// (hack/e2e-netns.sh puts KL_E2E_NODE_IP on a dummy link there): the
// apiserver's node proxy refuses loopback node addresses, and a routable
// one is only ever made in a network namespace of the tests' own, never in
// this host's root one.
func stNodeAddress(t *testing.T) net.IP {
	t.Helper()
	ip := net.ParseIP(os.Getenv("KL_E2E_NODE_IP"))
	if ip == nil {
		t.Fatal("KL_E2E_NODE_IP is not set: run the e2e tests through hack/e2e-netns.sh (hack/test.sh does), which makes the network namespace and the node address this test needs")
	}
	// Only hack/e2e-netns.sh's namespace has kl-e2e0.
	link, err := net.InterfaceByName("kl-e2e0")
	if err != nil {
		t.Fatalf("the e2e tests must run in hack/e2e-netns.sh's network namespace, which has kl-e2e0: %v", err)
	}
	addrs, err := link.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(addrs, func(a net.Addr) bool { n, ok := a.(*net.IPNet); return ok && n.IP.Equal(ip) }) {
		t.Fatalf("kl-e2e0 has %v, not KL_E2E_NODE_IP %s", addrs, ip)
	}
	return ip
}

// stGetJSON gets path from the apiserver as admin and decodes its JSON.
func stGetJSON(t *testing.T, client kubernetes.Interface, path string, into any) {
	t.Helper()
	body := stGet(t, client, path)
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %v\n%.500s", path, err, body)
	}
}

// stGet gets path from the apiserver as admin.
func stGet(t *testing.T, client kubernetes.Interface, path string) []byte {
	t.Helper()
	var code int
	res := client.CoreV1().RESTClient().Get().AbsPath(path).Do(context.Background()).StatusCode(&code)
	body, err := res.Raw()
	if err != nil {
		t.Fatalf("GET %s: %d %v\n%.500s", path, code, err, body)
	}
	return body
}

// stDirect gets path from the agent's kubelet API directly, with a bearer
// token unless it is empty, and returns the status and body.
func stDirect(t *testing.T, a *agent, addr net.IP, path, token string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the caller has no CA
	}}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://%s%s", net.JoinHostPort(addr.String(), fmt.Sprint(lgAgentPort(t, a))), path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// stStatsReader makes a service account allowed to get nodes/stats and
// nothing else of nodes, and returns a token of it.
func stStatsReader(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "stats-reader", Namespace: "default"}}
	if _, err := client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "stats-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/stats"}, Verbs: []string{"get"}}},
	}
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "stats-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "stats-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "stats-reader", Namespace: "default"}},
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "stats-reader",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}
