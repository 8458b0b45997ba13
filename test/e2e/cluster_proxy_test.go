//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClusterServiceProxy brings up hack/cluster with the node in the node
// VM (--proxy-mode ipvs there) and reaches a ClusterIP Service from a pod,
// through the kernel's IPVS: connections spread over all 3 backends of a
// Deployment, only the one left answers after scaling to 1, and nothing
// answers at the VIP once the Service is gone. The client pod connects to
// the VIP in a loop and logs which backend answered (the httpserver image
// answers with its pod name); kubectl logs is how the test sees it, since
// the kubelet API has no exec yet.
//
// It is not parallel: up.sh builds bin/kubelet-lite, which the other tests
// run.
func TestClusterServiceProxy(t *testing.T) {
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
	if out, err := script(ctx, "up.sh", "--dir", dir, "--node", "proxy-node", "--agent", "vm"); err != nil {
		t.Fatalf("up.sh: %v\n%s", err, out)
	}
	t.Logf("up.sh returned after %s", time.Since(start).Round(time.Second))
	k := makeupKubectl(filepath.Join(dir, "admin.kubeconfig"))
	apply := func(manifest string) {
		t.Helper()
		if out, err := k(manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}

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
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`)
	var vip string
	eventually(t, 30*time.Second, "the Service's cluster IP", func() (bool, string) {
		var err error
		vip, err = k("", "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
		return err == nil && vip != "", fmt.Sprint(err)
	})
	var backends []string
	eventually(t, 5*time.Minute, "3 ready backends in the Service's EndpointSlice", func() (bool, string) {
		out, err := k("", "get", "pods", "-l", "app=web", "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		if err != nil {
			return false, err.Error()
		}
		backends = nil
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[1] == "True" {
				backends = append(backends, f[0])
			}
		}
		if len(backends) != 3 {
			return false, out
		}
		eps, err := k("", "get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o",
			`jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.targetRef.name}{"\n"}{end}`)
		return err == nil && len(strings.Fields(eps)) == 3, fmt.Sprintf("%s %v", eps, err)
	})
	slices.Sort(backends)
	t.Logf("Service web at %s over %v", vip, backends)

	// One line per connection: "ans SEQ NAME", NAME being "none" when
	// nothing answered. HTTP/1.0 makes the server close after its answer,
	// whose last line is its pod name.
	apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
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
        r=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 nc -w 3 %s 80 2>/dev/null | tail -n 1 | tr -d '\r')
        echo "ans $i ${r:-none}"
        sleep 0.2
      done
`, busybox, vip))

	// answers reads the client's log: the names that answered, in order,
	// from the connections after seq after.
	answers := func(after int) ([]string, int, error) {
		out, err := k("", "logs", "client")
		if err != nil {
			return nil, after, err
		}
		last := after
		var names []string
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "ans" {
				continue
			}
			seq, err := strconv.Atoi(f[1])
			if err != nil || seq <= after {
				continue
			}
			names, last = append(names, f[2]), seq
		}
		return names, last, nil
	}

	var seen map[string]int
	var seq int
	eventually(t, 5*time.Minute, "every backend answers at the VIP", func() (bool, string) {
		names, last, err := answers(0)
		if err != nil {
			return false, err.Error()
		}
		seq = last
		seen = map[string]int{}
		for _, n := range names {
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
			t.Errorf("%q answered at the VIP; the backends are %v", n, backends)
		}
	}
	t.Logf("answers at the VIP over %d connections: %v", seq, seen)

	if out, err := k("", "scale", "deployment", "web", "--replicas", "1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	scaled := time.Now()
	// From the scale on, the client must come to see one backend only, and
	// answers throughout: a removed backend still in IPVS would show as
	// "none" once its pod is gone.
	const run = 15
	eventually(t, 2*time.Minute, fmt.Sprintf("the last %d answers come from one backend", run), func() (bool, string) {
		names, _, err := answers(seq)
		if err != nil {
			return false, err.Error()
		}
		if len(names) < run {
			return false, fmt.Sprintf("%d answers since the scale", len(names))
		}
		tail := names[len(names)-run:]
		for _, n := range tail {
			if n != tail[0] || !slices.Contains(backends, n) {
				return false, fmt.Sprintf("last answers %v", tail)
			}
		}
		return true, ""
	})
	t.Logf("only one backend answers %s after the scale to 1 (%d consecutive answers seen)", time.Since(scaled).Round(time.Second), run)
	_, seq, err := answers(seq)
	if err != nil {
		t.Fatal(err)
	}

	if out, err := k("", "delete", "service", "web", "--wait=true", "--timeout=60s"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	deleted := time.Now()
	eventually(t, 2*time.Minute, "nothing answers at the VIP", func() (bool, string) {
		names, _, err := answers(seq)
		if err != nil {
			return false, err.Error()
		}
		const quiet = 5
		if len(names) < quiet {
			return false, fmt.Sprintf("%d answers since the delete", len(names))
		}
		tail := names[len(names)-quiet:]
		for _, n := range tail {
			if n != "none" {
				return false, fmt.Sprintf("last answers %v", tail)
			}
		}
		return true, ""
	})
	t.Logf("the VIP stopped answering %s after the Service was deleted", time.Since(deleted).Round(time.Second))
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
