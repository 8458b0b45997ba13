//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

// The exec probe of xc-probe runs `sleep xcProbeSleep`, a number no other
// process on the host sleeps, so that its processes can be found in /proc.
const xcProbeSleep = "6017"

// TestClusterExec: the streaming verbs through the apiserver and the node's
// kubelet API — `kubectl exec` (output, exit code, stdin, the container's
// namespaces and cgroup, a client that goes away), `kubectl exec -it` on a
// real terminal with a resize, `kubectl attach`, `kubectl port-forward` with
// an HTTP request — the kubelet API refusing a caller without credentials
// (401) or without nodes/proxy (403), and an exec readiness probe that hangs
// past its timeout being killed without leaving a process or a zombie.
func TestClusterExec(t *testing.T) {
	// Each cluster test has its own control plane and agent: they run side
	// by side.
	t.Parallel()
	a, c, client := clusterAgent(t)
	lgCleanupPods(t, a, client)
	lgWaitNodeReady(t, client, a.node, 90*time.Second)
	lgWaitDefaultServiceAccount(t, client)
	ctx := context.Background()
	for _, p := range []*corev1.Pod{xcPod(a.node), xcProbePod(a.node)} {
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"xc", "xc-probe"} {
		lgWaitPod(t, client, name, 90*time.Second, "all containers running", func(p *corev1.Pod) bool {
			for _, s := range p.Status.ContainerStatuses {
				if s.State.Running == nil {
					return false
				}
			}
			return len(p.Status.ContainerStatuses) == len(p.Spec.Containers)
		})
	}

	for _, tr := range xcTransports {
		t.Run("exec over "+tr.name, func(t *testing.T) {
			out, errOut, code := xcKubectl(t, c, tr.env, "", "exec", "xc", "-c", "app", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
			if code != 7 || out != "out\n" || !strings.Contains(errOut, "err\n") {
				t.Errorf("kubectl exec = %d, stdout %q, stderr %q; want 7, \"out\\n\", \"err\" on stderr", code, out, errOut)
			}
			out, errOut, code = xcKubectl(t, c, tr.env, "hello\n", "exec", "-i", "xc", "-c", "app", "--", "sh", "-c", "read a; echo got $a")
			if code != 0 || out != "got hello\n" {
				t.Errorf("kubectl exec -i = %d, %q (stderr %q); want 0, \"got hello\\n\"", code, out, errOut)
			}
		})
	}
	t.Run("namespaces, cgroup and a client that goes", func(t *testing.T) { xcExecGone(t, a, c) })
	t.Run("terminal and resize", func(t *testing.T) { xcTerminal(t, c) })
	t.Run("attach", func(t *testing.T) { xcAttach(t, c) })
	for _, tr := range xcTransports {
		t.Run("port-forward over "+tr.name, func(t *testing.T) { xcPortForward(t, c, tr.env) })
	}
	t.Run("credentials", func(t *testing.T) { xcCredentials(t, a, c, client) })
	t.Run("hanging exec probe", func(t *testing.T) { xcHangingProbe(t, a, client) })
	if !a.alive() {
		t.Fatalf("agent exited\n%s", a.log())
	}
}

// xcPod runs "app", which writes a numbered line a second to stdout and to
// stderr, and "web", busybox httpd serving a page on port 8080.
func xcPod(node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "xc", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "app", Image: busybox, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", `i=0; while true; do i=$((i+1)); echo "tick $i"; echo "warn $i" >&2; sleep 1; done`},
			}, {
				Name: "web", Image: busybox, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", `mkdir -p /www && echo "hello from the pod" > /www/index.html && exec httpd -f -p 8080 -h /www`},
				Ports:   []corev1.ContainerPort{{ContainerPort: 8080}},
			}},
		},
	}
}

// xcProbePod has a readiness probe that hangs far past its 1 s timeout.
func xcProbePod(node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "xc-probe", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "app", Image: busybox, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "3600"},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", xcProbeSleep}}},
					TimeoutSeconds: 1, PeriodSeconds: 2, FailureThreshold: 1,
				},
			}},
		},
	}
}

// xcTransports are the ways kubectl streams to the apiserver: WebSocket
// (its default; the apiserver translates to SPDY towards the node, which
// declares no WebSocket support) and SPDY (proxied as it is).
var xcTransports = []struct {
	name string
	env  []string
}{
	{"websocket", nil},
	{"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
}

// xcKubectlCmd is kubectl as admin in namespace default, with env added to
// the test's environment.
func xcKubectlCmd(ctx context.Context, c *cluster.Cluster, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.AdminKubeconfig, "-n", "default"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// xcKubectl runs kubectl with stdin and returns its stdout, stderr and exit
// code; it fails t if kubectl could not run or ran for a minute.
func xcKubectl(t *testing.T, c *cluster.Cluster, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := xcKubectlCmd(ctx, c, env, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("kubectl %s: still running after a minute; stderr %q", strings.Join(args, " "), stderr.String())
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), 0
}

// xcExecGone: a process `kubectl exec` starts is in every namespace and the
// cgroup of the container's PID 1, and is gone, reaped, soon after kubectl
// is killed.
//
// kubectl streams over SPDY here: the apiserver proxies that connection as
// it is and closes the node's side when kubectl's goes. A WebSocket client
// is translated to SPDY by the apiserver, which keeps the node's
// connection until the command ends, whatever the node does (the upstream
// kubelet sees the same).
func xcExecGone(t *testing.T, a *agent, c *cluster.Cluster) {
	cmd := xcKubectlCmd(context.Background(), c, xcTransports[1].env, "exec", "xc", "-c", "app", "--", "sleep", "4321")
	var stderr xcBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var pid int
	eventually(t, 60*time.Second, "the exec'd sleep on the host", func() (bool, string) {
		pids := xcProcsRunning("sleep", "4321")
		if len(pids) == 1 {
			pid = pids[0]
		}
		return len(pids) == 1, fmt.Sprintf("pids %v, kubectl stderr %q", pids, stderr.String())
	})
	app := lgContainer(t, a, "xc")
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "uts"} {
		got, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		want, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", app.PID, ns))
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("%s namespace of the exec'd process %q (%v), of the container %q (%v): want the same", ns, got, err1, want, err2)
		}
	}
	got, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	want, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", app.PID))
	if err1 != nil || err2 != nil || string(got) != string(want) {
		t.Errorf("cgroups of the exec'd process:\n%s(%v)\nof the container:\n%s(%v)\nwant the same", got, err1, want, err2)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waited = true
	eventually(t, 60*time.Second, "the exec'd sleep gone after its client was killed", func() (bool, string) {
		state, ok := xcProcState(pid, "sleep")
		return !ok, fmt.Sprintf("pid %d still there, state %c", pid, state)
	})
}

// xcTerminal: `kubectl exec -it` on a pseudo-terminal gets a terminal of the
// client's size in the container, follows a resize, and returns the shell's
// exit code.
func xcTerminal(t *testing.T, c *cluster.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := xcKubectlCmd(ctx, c, nil, "exec", "-it", "xc", "-c", "app", "--", "sh")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var screen xcBuffer
	go io.Copy(&screen, ptmx) //nolint:errcheck // ends when the pty closes
	// The shell's prompt may come before or after what is typed; each
	// answer is asked for again until it shows.
	xcTypeUntil(t, ptmx, &screen, "tty; stty size\n", regexp.MustCompile(`/dev/pts/\d+\s+30 100`))
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	xcTypeUntil(t, ptmx, &screen, "stty size\n", regexp.MustCompile(`40 120`))
	if _, err := io.WriteString(ptmx, "exit 3\n"); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("kubectl exec -it after `exit 3`: %v, want exit code 3; screen:\n%s", err, screen.String())
	}
}

// xcTypeUntil types line into the terminal until the screen matches re.
func xcTypeUntil(t *testing.T, tty io.Writer, screen *xcBuffer, line string, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !re.MatchString(screen.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal never showed %s after typing %q; screen:\n%s", re, line, screen.String())
		}
		if _, err := io.WriteString(tty, line); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && !re.MatchString(screen.String()); {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// xcAttach: `kubectl attach` shows what the running container writes from
// then on, its stdout on stdout and its stderr on stderr.
func xcAttach(t *testing.T, c *cluster.Cluster) {
	tick := regexp.MustCompile(`(?m)^tick (\d+)$`)
	logged, _, _ := xcKubectl(t, c, nil, "", "logs", "xc", "-c", "app", "--tail=4")
	ticks := tick.FindAllStringSubmatch(logged, -1)
	if len(ticks) == 0 {
		t.Fatalf("no tick in the last log lines %q", logged)
	}
	before, _ := strconv.Atoi(ticks[len(ticks)-1][1])
	cmd := xcKubectlCmd(context.Background(), c, nil, "attach", "xc", "-c", "app")
	var stdout, stderr xcBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	eventually(t, 60*time.Second, "attached output", func() (bool, string) {
		return tick.MatchString(stdout.String()) && regexp.MustCompile(`(?m)^warn \d+$`).MatchString(stderr.String()),
			fmt.Sprintf("stdout %q, stderr %q", stdout.String(), stderr.String())
	})
	first, _ := strconv.Atoi(tick.FindStringSubmatch(stdout.String())[1])
	if first <= before || strings.Contains(stdout.String(), "warn") || strings.Contains(stderr.String(), "tick") {
		t.Errorf("attached after tick %d: stdout %q, stderr %q; want only later lines, ticks on stdout and warnings on stderr",
			before, stdout.String(), stderr.String())
	}
}

// xcPortForward: `kubectl port-forward` carries HTTP requests to the pod's
// port 8080, which listens on the pod's own loopback.
func xcPortForward(t *testing.T, c *cluster.Cluster, env []string) {
	cmd := xcKubectlCmd(context.Background(), c, env, "port-forward", "--address", "127.0.0.1", "pod/xc", "0:8080")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr xcBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var port string
	select {
	case l, ok := <-lines:
		m := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$`).FindStringSubmatch(l)
		if !ok || m == nil {
			t.Fatalf("kubectl port-forward printed %q, stderr %q", l, stderr.String())
		}
		port = m[1]
	case <-time.After(60 * time.Second):
		t.Fatalf("kubectl port-forward not ready after 60s; stderr %q", stderr.String())
	}
	go func() { // keep draining
		for range lines {
		}
	}()
	hc := &http.Client{Timeout: 30 * time.Second}
	for i := range 2 {
		resp, err := hc.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			t.Fatalf("GET %d through the forwarded port: %v; kubectl stderr %q", i, err, stderr.String())
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "hello from the pod\n" || err != nil {
			t.Errorf("GET %d through the forwarded port = %d %q (%v), want 200 \"hello from the pod\\n\"", i, resp.StatusCode, body, err)
		}
	}
}

// xcCredentials: on the kubelet API directly, an exec without credentials
// gets 401, a ServiceAccount with no RBAC 403 for exec and logs, and the
// admin's client certificate (system:masters) runs a command with /run.
func xcCredentials(t *testing.T, a *agent, c *cluster.Cluster, client kubernetes.Interface) {
	ctx := context.Background()
	base := fmt.Sprintf("https://127.0.0.1:%d", lgAgentPort(t, a))
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	anonymous := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	if _, err := client.CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "xc-nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "xc-nobody",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	admin := cluster.RESTConfig(t, c.AdminKubeconfig)
	adminTLS, err := rest.TLSConfigFor(admin)
	if err != nil {
		t.Fatal(err)
	}
	adminTLS.RootCAs = roots
	adminClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: adminTLS}}

	cases := []struct {
		name     string
		client   *http.Client
		token    string
		method   string
		path     string
		wantCode int
		wantBody *regexp.Regexp
	}{
		{"exec without credentials", anonymous, "", http.MethodPost, "/exec/default/xc/app?command=true&output=1", 401, regexp.MustCompile(`^Unauthorized`)},
		{"exec without nodes/proxy", anonymous, tr.Status.Token, http.MethodPost, "/exec/default/xc/app?command=true&output=1", 403,
			regexp.MustCompile(`^Forbidden \(user=system:serviceaccount:default:xc-nobody, verb=create, resource=nodes, subresource\(s\)=\[proxy\]\)`)},
		{"logs without nodes/proxy", anonymous, tr.Status.Token, http.MethodGet, "/containerLogs/default/xc/app", 403, regexp.MustCompile(`^Forbidden .*xc-nobody`)},
		{"run as admin", adminClient, "", http.MethodPost, "/run/default/xc/app?cmd=echo+ran+here", 200, regexp.MustCompile(`^ran here\n$`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := tc.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || !tc.wantBody.Match(body) {
				t.Errorf("%s %s = %d %q, want %d and a body matching %s", tc.method, tc.path, resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

// xcHangingProbe: each run of xc-probe's readiness probe (`sleep`, timeout
// 1 s) is killed at its timeout: the pod is not ready, an Unhealthy event
// says it timed out, no probe process outlives its run, and none is left a
// zombie.
func xcHangingProbe(t *testing.T, a *agent, client kubernetes.Interface) {
	lgWaitEvent(t, client, "xc-probe", "Unhealthy", "timed out")
	p, err := client.CoreV1().Pods("default").Get(context.Background(), "xc-probe", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Status.ContainerStatuses; len(s) != 1 || s[0].Ready || s[0].State.Running == nil {
		t.Errorf("xc-probe statuses %+v, want its container running and not ready", s)
	}
	// Watch the probe's processes for a while: each run starts one, and
	// the timeout kills it.
	firstSeen := map[int]time.Time{}
	maxAtOnce := 0
	end := time.Now().Add(12 * time.Second)
	for time.Now().Before(end) {
		pids := xcProcsRunning("sleep", xcProbeSleep)
		maxAtOnce = max(maxAtOnce, len(pids))
		for _, pid := range pids {
			if _, ok := firstSeen[pid]; !ok {
				firstSeen[pid] = time.Now()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(firstSeen) < 3 || maxAtOnce > 1 {
		t.Errorf("saw %d probe processes in 12 s, at most %d at once; want at least 3 (a run every 2 s), one at a time", len(firstSeen), maxAtOnce)
	}
	// The 1 s timeout and the kill have passed for each process seen
	// 3 s ago: it must be gone, not even a zombie.
	time.Sleep(3 * time.Second)
	for pid, seen := range firstSeen {
		if state, ok := xcProcState(pid, "sleep"); ok && time.Since(seen) > 3*time.Second {
			t.Errorf("probe process %d (seen %s ago) still there in state %c", pid, time.Since(seen).Round(time.Millisecond), state)
		}
	}
	if z := xcZombies(a.cmd.Process.Pid, xcPodUID(t, a, "xc-probe")); len(z) > 0 {
		t.Errorf("zombies of the agent or of xc-probe: %v", z)
	}
}

// xcPodUID is the UID of the node's pod default/name.
func xcPodUID(t *testing.T, a *agent, name string) string {
	t.Helper()
	p, ok := lgRuntimePod(a, name)
	if !ok {
		t.Fatalf("the node does not run pod %s", name)
	}
	return p.UID
}

// xcProcsRunning lists the processes whose command line is exactly args.
func xcProcsRunning(args ...string) []int {
	want := strings.Join(args, "\x00") + "\x00"
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && string(cmdline) == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

// xcProcState returns the state of process pid if it exists and its
// command is comm (a zombie keeps its comm, not its command line).
func xcProcState(pid int, comm string) (byte, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(stat)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || s[open+1:close] != comm || close+2 >= len(s) {
		return 0, false
	}
	return s[close+2], true
}

// xcZombies lists the zombies whose parent is parent or a process of the
// pod with UID podUID (its cgroup path names the UID).
func xcZombies(parent int, podUID string) []string {
	inPod := func(pid int) bool {
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		return err == nil && (strings.Contains(string(cg), podUID) || strings.Contains(string(cg), strings.ReplaceAll(podUID, "-", "_")))
	}
	var zombies []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] != "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if ppid == parent || inPod(ppid) {
			zombies = append(zombies, fmt.Sprintf("%d %s (parent %d)", pid, s[:i+1], ppid))
		}
	}
	return zombies
}

// xcBuffer is a bytes.Buffer safe for a writer and a reader.
type xcBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *xcBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *xcBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
