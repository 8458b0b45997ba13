//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

// Rotation settings of TestClusterLogs' agent: small, so that a chatty
// container rotates its log within seconds.
const (
	lgLogMaxSize  = 64 * 1024
	lgLogMaxFiles = 3
)

// TestClusterLogs: `kubectl logs` through the apiserver and the node's
// kubelet API — all lines, --tail, -f, --previous after a restart,
// --timestamps, --since, --limit-bytes, a log that rotates while it is
// written — and the kubelet API refusing a caller without credentials.
func TestClusterLogs(t *testing.T) {
	// Each cluster test has its own control plane and agent, and waits
	// mostly on backoffs and probes: they run side by side.
	t.Parallel()
	a, c, client := clusterAgent(t, "--container-log-max-size", fmt.Sprint(lgLogMaxSize),
		"--container-log-max-files", fmt.Sprint(lgLogMaxFiles))
	lgCleanupPods(t, a, client)
	lgWaitNodeReady(t, client, a.node, 90*time.Second)
	lgWaitDefaultServiceAccount(t, client)
	ctx := context.Background()

	pods := map[string]*corev1.Pod{
		// lines prints ten numbered lines, then sleeps.
		"lines": lgPod("lines", corev1.RestartPolicyAlways, `for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i"; done; exec sleep 3600`),
		// ticker prints a numbered line a second.
		"ticker": lgPod("ticker", corev1.RestartPolicyAlways, `i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done`),
		// restarter prints its run (a counter in an emptyDir) and exits on
		// the first run; the second run stays.
		"restarter": lgPod("restarter", corev1.RestartPolicyAlways,
			`n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo "run $n"; `+
				`if [ $n -ge 2 ]; then exec sleep 3600; fi; sleep 1; exit 3`),
		// chatty writes about 100 KiB/s of numbered 1 KiB lines.
		"chatty": lgPod("chatty", corev1.RestartPolicyAlways,
			`pad=$(printf '%01000d' 0); i=0; while true; do i=$((i+1)); echo "chatty $i $pad"; usleep 10000; done`),
	}
	for _, p := range pods {
		p.Spec.NodeName = a.node
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name := range pods {
		lgWaitPod(t, client, name, 90*time.Second, "running", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
		})
	}
	created := time.Now()

	t.Run("all lines", func(t *testing.T) {
		want := "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n"
		if got := lgKubectl(t, c, "logs", "lines"); got != want {
			t.Errorf("kubectl logs lines = %q, want %q", got, want)
		}
	})
	t.Run("tail", func(t *testing.T) {
		if got, want := lgKubectl(t, c, "logs", "lines", "--tail=3"), "line 8\nline 9\nline 10\n"; got != want {
			t.Errorf("kubectl logs --tail=3 = %q, want %q", got, want)
		}
		if got, want := lgKubectl(t, c, "logs", "lines", "--tail=0"), ""; got != want {
			t.Errorf("kubectl logs --tail=0 = %q, want %q", got, want)
		}
	})
	t.Run("limit bytes", func(t *testing.T) {
		if got, want := lgKubectl(t, c, "logs", "lines", "--limit-bytes=10"), "line 1\nlin"; got != want {
			t.Errorf("kubectl logs --limit-bytes=10 = %q, want %q", got, want)
		}
	})
	t.Run("timestamps", func(t *testing.T) {
		out := lgKubectl(t, c, "logs", "lines", "--timestamps", "--tail=2")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("kubectl logs --timestamps --tail=2 = %q, want 2 lines", out)
		}
		for i, l := range lines {
			ts, text, _ := strings.Cut(l, " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || text != fmt.Sprintf("line %d", 9+i) || at.Before(created.Add(-3*time.Minute)) || at.After(time.Now()) {
				t.Errorf("line %q: want an RFC 3339 time of the last minutes and \"line %d\" (%v)", l, 9+i, err)
			}
		}
	})
	t.Run("since", func(t *testing.T) {
		if got := lgKubectl(t, c, "logs", "lines", "--since=1h"); strings.Count(got, "\n") != 10 {
			t.Errorf("kubectl logs --since=1h = %q, want the 10 lines", got)
		}
		time.Sleep(time.Until(created.Add(3 * time.Second)))
		if got := lgKubectl(t, c, "logs", "lines", "--since=2s"); got != "" {
			t.Errorf("kubectl logs --since=2s of lines written earlier = %q, want nothing", got)
		}
		// ticker writes every second, so the last 3 s hold a few lines.
		got := lgKubectl(t, c, "logs", "ticker", "--since=3s")
		if n := strings.Count(got, "\n"); n < 1 || n > 5 {
			t.Errorf("kubectl logs ticker --since=3s = %q, want 1 to 5 lines", got)
		}
	})
	t.Run("follow", func(t *testing.T) { lgFollow(t, c) })
	t.Run("previous", func(t *testing.T) {
		lgWaitPod(t, client, "restarter", 90*time.Second, "restarted once and running", func(p *corev1.Pod) bool {
			s := p.Status.ContainerStatuses
			return len(s) == 1 && s[0].RestartCount == 1 && s[0].State.Running != nil
		})
		prev := lgKubectl(t, c, "logs", "restarter", "--previous")
		cur := lgKubectl(t, c, "logs", "restarter")
		if !regexp.MustCompile(`^run 1\n$`).MatchString(prev) {
			t.Errorf("kubectl logs --previous = %q, want the first run's line", prev)
		}
		if !regexp.MustCompile(`^run 2\n$`).MatchString(cur) {
			t.Errorf("kubectl logs = %q, want the second run's line", cur)
		}
		out, err := lgKubectlErr(c, "logs", "lines", "--previous")
		if err == nil {
			t.Errorf("kubectl logs --previous of a container that never restarted = %q, want an error", out)
		}
	})
	t.Run("rotation", func(t *testing.T) { lgRotation(t, a, c, client) })
	t.Run("unauthenticated", func(t *testing.T) {
		port := lgAgentPort(t, a)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the caller has no CA either
		}}
		for _, path := range []string{"/containerLogs/default/lines/app", "/pods", "/runningpods/"} {
			resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d%s", port, path))
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "line 1") {
				t.Errorf("GET %s without credentials = %d %q, want 401 and no logs", path, resp.StatusCode, body)
			}
		}
	})
	if !a.alive() {
		t.Fatalf("agent exited\n%s", a.log())
	}
}

// lgFollow: `kubectl logs -f` streams ticker's lines as they are written.
func lgFollow(t *testing.T, c *cluster.Cluster) {
	cmd := exec.Command(c.Kubectl, "--kubeconfig", c.AdminKubeconfig, "-n", "default", "logs", "-f", "ticker", "--tail=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	type line struct {
		n  int
		at time.Time
	}
	lines := make(chan line)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "tick "))
			if err != nil {
				n = -1
			}
			lines <- line{n, time.Now()}
		}
	}()
	var got []int
	timeout := time.After(30 * time.Second)
	for len(got) < 5 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl logs -f ended after %v: %s", got, stderr.String())
			}
			if l.n < 0 || (len(got) > 0 && l.n != got[len(got)-1]+1) {
				t.Fatalf("kubectl logs -f: line %d after %v, want consecutive tick numbers", l.n, got)
			}
			got = append(got, l.n)
		case <-timeout:
			t.Fatalf("kubectl logs -f: only %v in 30 s; stderr %s", got, stderr.String())
		}
	}
	t.Logf("kubectl logs -f streamed ticks %v", got)
}

// lgRotation: chatty's log rotates at lgLogMaxSize, at most lgLogMaxFiles
// files are kept, and `kubectl logs` still reads it.
func lgRotation(t *testing.T, a *agent, c *cluster.Cluster, client kubernetes.Interface) {
	pod, err := client.CoreV1().Pods("default").Get(context.Background(), "chatty", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(a.logDir, fmt.Sprintf("default_chatty_%s", pod.UID), "app")
	var files []string
	start := time.Now()
	eventually(t, 90*time.Second, "chatty's log rotated twice", func() (bool, string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return false, err.Error()
		}
		files = files[:0]
		for _, e := range entries {
			files = append(files, e.Name())
		}
		return len(files) == lgLogMaxFiles && slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, ".gz") }), strings.Join(files, " ")
	})
	t.Logf("rotated in %s: %v", time.Since(start).Round(time.Second), files)
	// Over a few more rotations the count stays bounded.
	time.Sleep(25 * time.Second)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > lgLogMaxFiles {
		t.Errorf("%d files in %s, want at most %d", len(entries), dir, lgLogMaxFiles)
	}

	last := func() int {
		t.Helper()
		out := lgKubectl(t, c, "logs", "chatty", "--tail=1")
		f := strings.Fields(out)
		if len(f) != 3 || f[0] != "chatty" {
			t.Fatalf("kubectl logs chatty --tail=1 = %.100q, want one chatty line", out)
		}
		n, _ := strconv.Atoi(f[1])
		return n
	}
	first := last()
	time.Sleep(2 * time.Second)
	if second := last(); second <= first {
		t.Errorf("kubectl logs --tail=1: line %d, then %d 2 s later; want the log to go on after rotations", first, second)
	}
	for _, args := range [][]string{{"--tail=200"}, {}} {
		out := lgKubectl(t, c, append([]string{"logs", "chatty"}, args...)...)
		from, to := lgConsecutive(t, "kubectl logs chatty "+strings.Join(args, " "), out)
		t.Logf("kubectl logs chatty %s: lines %d to %d (%d KiB) without a gap", strings.Join(args, " "), from, to, len(out)/1024)
	}

	// -f goes on across a rotation (every 10 s) without losing or
	// repeating a line.
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Kubectl, "--kubeconfig", c.AdminKubeconfig, "-n", "default", "logs", "-f", "chatty", "--tail=1")
	out, _ := cmd.Output() // ends when ctx kills it
	from, to := lgConsecutive(t, "kubectl logs -f chatty", string(out[:strings.LastIndexByte(string(out), '\n')+1]))
	if to-from < 1000 {
		t.Errorf("kubectl logs -f chatty for 25 s: lines %d to %d, want well over 1000 (a rotation or more)", from, to)
	}
	t.Logf("kubectl logs -f chatty for 25 s: lines %d to %d without a gap", from, to)
}

// lgConsecutive checks that out is chatty lines numbered one after another
// and returns the first and last number.
func lgConsecutive(t *testing.T, what, out string) (first, last int) {
	t.Helper()
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "chatty" {
			t.Fatalf("%s: line %d = %.80q, want a chatty line", what, i, l)
		}
		n, _ := strconv.Atoi(f[1])
		if i == 0 {
			first = n
		} else if n != last+1 {
			t.Fatalf("%s: line %d follows %d; want no gap or repeat across a rotation", what, n, last)
		}
		last = n
	}
	return first, last
}

// lgAgentPort is the agent's kubelet API port (its --port).
func lgAgentPort(t *testing.T, a *agent) int {
	t.Helper()
	if i := slices.Index(a.extraArgs, "--port"); i >= 0 && i+1 < len(a.extraArgs) {
		if p, err := strconv.Atoi(a.extraArgs[i+1]); err == nil {
			return p
		}
	}
	t.Fatalf("no --port in the agent's arguments %v", a.extraArgs)
	return 0
}

// lgKubectl runs kubectl as admin in namespace default and returns its
// stdout, failing t on an error.
func lgKubectl(t *testing.T, c *cluster.Cluster, args ...string) string {
	t.Helper()
	out, err := lgKubectlErr(c, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func lgKubectlErr(c *cluster.Cluster, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.AdminKubeconfig, "-n", "default"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), nil
}

// TestClusterBadPods: pods that cannot run — an image missing under
// imagePullPolicy Never, an image of a registry that does not resolve, more
// cpu than the node has, a host port in use, a volume type the agent does
// not support, a ConfigMap that does not exist — each get a clear reason
// and an event, while a healthy pod keeps running untouched, the agent
// stays up and a new pod still starts.
func TestClusterBadPods(t *testing.T) {
	// Each cluster test has its own control plane and agent, and waits
	// mostly on backoffs and probes: they run side by side.
	t.Parallel()
	a, _, client := clusterAgent(t)
	lgCleanupPods(t, a, client)
	lgWaitNodeReady(t, client, a.node, 90*time.Second)
	lgWaitDefaultServiceAccount(t, client)
	ctx := context.Background()
	create := func(p *corev1.Pod) {
		t.Helper()
		p.Spec.NodeName = a.node // bound directly: no scheduler filters it
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", p.Name, err)
		}
	}
	runningPod := func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	}

	create(lgPod("healthy", corev1.RestartPolicyAlways, `echo healthy; exec sleep 3600`))
	lgWaitPod(t, client, "healthy", 90*time.Second, "running", runningPod)
	healthy := lgContainer(t, a, "healthy")

	t.Run("image missing, pull policy Never", func(t *testing.T) {
		p := lgPod("neverpull", corev1.RestartPolicyAlways, "true")
		p.Spec.Containers[0].Image = "kubelet-lite.local/does-not-exist:v1"
		create(p)
		lgWaitPod(t, client, p.Name, 60*time.Second, "waiting ErrImageNeverPull", lgWaiting("ErrImageNeverPull"))
		lgWaitEvent(t, client, p.Name, "ErrImageNeverPull", "kubelet-lite.local/does-not-exist:v1")
	})
	t.Run("registry unreachable", func(t *testing.T) {
		// A registry on a loopback port nothing listens on: the pull fails
		// without any traffic leaving the machine.
		image := fmt.Sprintf("127.0.0.1:%d/x:1", freePort(t))
		p := lgPod("badregistry", corev1.RestartPolicyAlways, "true")
		p.Spec.Containers[0].Image = image
		p.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
		create(p)
		// The first failure shows ErrImagePull; the retries within the pull
		// backoff show ImagePullBackOff, as upstream.
		lgWaitPod(t, client, p.Name, 60*time.Second, "waiting ErrImagePull", lgWaiting("ErrImagePull"))
		lgWaitEvent(t, client, p.Name, "Failed", image)
		lgWaitPod(t, client, p.Name, 60*time.Second, "waiting ImagePullBackOff", lgWaiting("ImagePullBackOff"))
		lgWaitEventOfType(t, client, p.Name, corev1.EventTypeNormal, "BackOff", fmt.Sprintf("Back-off pulling image %q", image))
	})
	t.Run("more cpu than allocatable", func(t *testing.T) {
		p := lgPod("hungry", corev1.RestartPolicyAlways, "sleep 3600")
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}
		create(p)
		lgWaitPod(t, client, p.Name, 60*time.Second, "Failed OutOfcpu", lgFailed("OutOfcpu"))
		lgWaitEvent(t, client, p.Name, "OutOfcpu", "cpu")
	})
	t.Run("host port in use", func(t *testing.T) {
		port := int32(freePort(t))
		for _, name := range []string{"port-a", "port-b"} {
			p := lgPod(name, corev1.RestartPolicyAlways, "exec sleep 3600")
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: port, Protocol: corev1.ProtocolTCP}}
			create(p)
			if name == "port-a" {
				lgWaitPod(t, client, name, 60*time.Second, "running", runningPod)
			}
		}
		lgWaitPod(t, client, "port-b", 60*time.Second, "Failed NodePorts", lgFailed("NodePorts"))
		lgWaitEvent(t, client, "port-b", "NodePorts", fmt.Sprint(port))
		if p, err := client.CoreV1().Pods("default").Get(ctx, "port-a", metav1.GetOptions{}); err != nil || !runningPod(p) {
			t.Errorf("port-a after port-b was rejected: %v %+v, want running", err, p.Status)
		}
	})
	t.Run("unsupported volume type", func(t *testing.T) {
		p := lgPod("nfs", corev1.RestartPolicyAlways, "sleep 3600")
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "share", VolumeSource: corev1.VolumeSource{
			NFS: &corev1.NFSVolumeSource{Server: "nfs.invalid", Path: "/export"},
		}})
		create(p)
		got := lgWaitPod(t, client, p.Name, 60*time.Second, "Failed UnsupportedVolume", lgFailed("UnsupportedVolume"))
		if !strings.Contains(got.Status.Message, "share") || !strings.Contains(strings.ToLower(got.Status.Message), "nfs") {
			t.Errorf("message %q: want it to name the volume share and its type nfs", got.Status.Message)
		}
		lgWaitEvent(t, client, p.Name, "UnsupportedVolume", "share")
	})
	t.Run("missing ConfigMap", func(t *testing.T) {
		p := lgPod("nocm", corev1.RestartPolicyAlways, "sleep 3600")
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "does-not-exist"}},
		}})
		create(p)
		lgWaitEvent(t, client, p.Name, "FailedMount", "does-not-exist")
		got := lgWaitPod(t, client, p.Name, 30*time.Second, "Pending, waiting ContainerCreating", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodPending && lgWaiting("ContainerCreating")(p)
		})
		time.Sleep(5 * time.Second)
		if p, err := client.CoreV1().Pods("default").Get(ctx, "nocm", metav1.GetOptions{}); err != nil || p.Status.Phase != corev1.PodPending {
			t.Errorf("nocm 5 s later: %v %+v, want still Pending", err, p.Status)
		}
		if cs := lgRuntimeContainers(a, "nocm"); len(cs) > 0 {
			t.Errorf("nocm has containers on the node without its ConfigMap: %+v", cs)
		}
		// Once the ConfigMap exists, the pod starts.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "does-not-exist", Namespace: "default"}, Data: map[string]string{"k": "v"}}
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		lgWaitPod(t, client, "nocm", 90*time.Second, "running once its ConfigMap exists", runningPod)
		t.Logf("nocm ran %s after its ConfigMap was made (%s before: %+v)", time.Since(start).Round(time.Millisecond), got.Status.Phase, got.Status.ContainerStatuses[0].State.Waiting)
	})

	if !a.alive() {
		t.Fatalf("agent exited\n%s", a.log())
	}
	p, err := client.CoreV1().Pods("default").Get(ctx, "healthy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Status.ContainerStatuses; p.Status.Phase != corev1.PodRunning || len(s) != 1 || s[0].RestartCount != 0 || s[0].State.Running == nil {
		t.Errorf("healthy after the bad pods: %s %+v, want Running with restart count 0", p.Status.Phase, s)
	}
	if c := lgContainer(t, a, "healthy"); c.ID != healthy.ID || c.PID != healthy.PID || !running(c) {
		t.Errorf("healthy's container = %+v, was %+v", c, healthy)
	}
	create(lgPod("after", corev1.RestartPolicyAlways, `echo after; exec sleep 3600`))
	lgWaitPod(t, client, "after", 90*time.Second, "running", runningPod)
}

// lgRuntimePod is the runtime's view of the API pod default/name.
func lgRuntimePod(a *agent, name string) (podState, bool) {
	for _, p := range a.ps() {
		if p.Namespace == "default" && p.Name == name {
			return p, true
		}
	}
	return podState{}, false
}

// lgRuntimeContainers lists the containers the runtime has for pod default/name.
func lgRuntimeContainers(a *agent, name string) []containerState {
	p, _ := lgRuntimePod(a, name)
	return p.Containers
}

// lgWaiting holds when the pod's one container waits with reason.
func lgWaiting(reason string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == reason
	}
}

// lgFailed holds when the pod failed with reason and a message.
func lgFailed(reason string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodFailed && p.Status.Reason == reason && p.Status.Message != ""
	}
}

// lgWaitEvent waits for a Warning event of pod default/name with reason
// whose message contains text.
func lgWaitEvent(t *testing.T, client kubernetes.Interface, name, reason, text string) {
	t.Helper()
	lgWaitEventOfType(t, client, name, corev1.EventTypeWarning, reason, text)
}

// lgWaitEventOfType waits for an event of type typ of pod default/name with
// reason whose message contains text.
func lgWaitEventOfType(t *testing.T, client kubernetes.Interface, name, typ, reason, text string) {
	t.Helper()
	sel := fields.Set{"involvedObject.kind": "Pod", "involvedObject.name": name}.AsSelector().String()
	eventually(t, 60*time.Second, fmt.Sprintf("%s: %s event %s mentioning %q", name, typ, reason, text), func() (bool, string) {
		evs, err := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Type == typ && e.Reason == reason && strings.Contains(e.Message, text) {
				return true, ""
			}
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, "; ")
	})
}
