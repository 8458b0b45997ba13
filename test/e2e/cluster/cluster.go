package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelet-lite/kubelet-lite/hack/cluster/pki/certs"
)

// Options configure Start; the zero value is fine.
type Options struct {
	// Repo is the kubelet-lite checkout holding hack/cluster. Default: $KL_REPO,
	// else the nearest parent of the working directory with hack/cluster/up.sh.
	Repo string
	// Dir is the cluster dir. Default: a new directory that the test removes.
	Dir string
	// Timeout bounds up.sh, which builds the control plane when it is not
	// cached. Default 30 minutes.
	Timeout time.Duration
	// APIServerArgs and ControllerManagerArgs are flags added to the
	// components' command lines (after up.sh's own, so a repeated flag
	// overrides), e.g. --enable-bootstrap-token-auth or a short
	// --cluster-signing-duration. Each element is one argument.
	APIServerArgs, ControllerManagerArgs []string
}

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds the PKI (Dir/pki), kubeconfigs, etcd data and logs (Dir/logs).
	Dir string
	// AdminKubeconfig authenticates as kubernetes-admin (system:masters).
	AdminKubeconfig string
	// CAFile is the cluster CA, which signs every certificate of the cluster.
	CAFile string
	// APIServerURL is https://127.0.0.1:PORT.
	APIServerURL string
	// ControllerManagerPort and SchedulerPort are the loopback secure ports
	// of their /healthz.
	ControllerManagerPort int
	SchedulerPort         int
	// Kubectl is the path of the kubectl binary of the control plane's version.
	Kubectl string

	// apiserverArgs is the command line StopAPIServer saw.
	apiserverArgs []string
	// apiserverStopped is set while the apiserver is stopped;
	// restartOnCleanup once its restart at the test's end is registered.
	apiserverStopped, restartOnCleanup bool
}

// Start starts a control plane for t and registers its stop with t.Cleanup.
// It fails t when the cluster does not come up, after logging the tail of
// each component's log.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	repo, err := findRepo(opts.Repo)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Minute
	}
	c := &Cluster{Dir: opts.Dir}
	t.Cleanup(func() { c.stop(t, repo) })

	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	start := time.Now()
	args := []string{"--no-agent", "--dir", opts.Dir}
	for _, a := range opts.APIServerArgs {
		args = append(args, "--apiserver-arg", a)
	}
	for _, a := range opts.ControllerManagerArgs {
		args = append(args, "--controller-manager-arg", a)
	}
	out, err := runScript(ctx, repo, "up.sh", args...)
	if err != nil {
		c.logTails(t)
		t.Fatalf("hack/cluster/up.sh: %v\n%s", err, out)
	}
	t.Logf("control plane up in %.1fs (dir %s)", time.Since(start).Seconds(), opts.Dir)
	if err := c.load(); err != nil {
		t.Fatal(err)
	}
	return c
}

// load fills c from the files up.sh wrote.
func (c *Cluster) load() error {
	data, err := os.ReadFile(filepath.Join(c.Dir, "env"))
	if err != nil {
		return fmt.Errorf("read cluster env: %w", err)
	}
	env := parseEnv(data)
	c.APIServerURL = env["API_SERVER"]
	if c.APIServerURL == "" {
		return fmt.Errorf("cluster env in %s has no API_SERVER", c.Dir)
	}
	if c.ControllerManagerPort, err = strconv.Atoi(env["CONTROLLER_MANAGER_PORT"]); err != nil {
		return fmt.Errorf("cluster env CONTROLLER_MANAGER_PORT: %w", err)
	}
	if c.SchedulerPort, err = strconv.Atoi(env["SCHEDULER_PORT"]); err != nil {
		return fmt.Errorf("cluster env SCHEDULER_PORT: %w", err)
	}
	c.AdminKubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	c.CAFile = filepath.Join(c.Dir, "pki", "ca.crt")
	c.Kubectl = filepath.Join(cacheDir(), "cluster", "bin", "kubectl")
	return nil
}

// NodeKubeconfig returns the kubeconfig of node name (client certificate CN
// system:node:<name>, O system:nodes), making its certificates on first use.
// The node's kubelet serving certificate is NodeServing(name).
func (c *Cluster) NodeKubeconfig(t testing.TB, name string) string {
	t.Helper()
	n, err := certs.EnsureNode(certs.Config{Dir: c.Dir, Server: c.APIServerURL}, name, "")
	if err != nil {
		t.Fatalf("node %s credentials: %v", name, err)
	}
	return n.Kubeconfig
}

// NodeServing returns the kubelet serving certificate and key of node name
// (SANs name, localhost, 127.0.0.1), signed by CAFile, making them on first use.
func (c *Cluster) NodeServing(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	n, err := certs.EnsureNode(certs.Config{Dir: c.Dir, Server: c.APIServerURL}, name, "")
	if err != nil {
		t.Fatalf("node %s credentials: %v", name, err)
	}
	return n.Serving.CertFile, n.Serving.KeyFile
}

// RESTConfig loads a kubeconfig file.
func RESTConfig(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", kubeconfig, err)
	}
	return cfg
}

// Client returns a clientset for a kubeconfig file.
func Client(t testing.TB, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(RESTConfig(t, kubeconfig))
	if err != nil {
		t.Fatalf("clientset for %s: %v", kubeconfig, err)
	}
	return cs
}

func (c *Cluster) stop(t testing.TB, repo string) {
	if t.Failed() {
		c.logTails(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := runScript(ctx, repo, "down.sh", "--dir", c.Dir); err != nil {
		t.Errorf("hack/cluster/down.sh: %v\n%s", err, out)
	}
}

// logTails logs the last lines of each component's log.
func (c *Cluster) logTails(t testing.TB) {
	logs, _ := filepath.Glob(filepath.Join(c.Dir, "logs", "*.log"))
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		t.Logf("--- last lines of %s:\n%s", l, tail(data, 15))
	}
}

func runScript(ctx context.Context, repo, script string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "hack", "cluster", script), args...)
	cmd.Dir = repo
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

// findRepo returns the checkout holding hack/cluster/up.sh.
func findRepo(repo string) (string, error) {
	if repo == "" {
		repo = os.Getenv("KL_REPO")
	}
	if repo != "" {
		if _, err := os.Stat(filepath.Join(repo, "hack", "cluster", "up.sh")); err != nil {
			return "", fmt.Errorf("repo %s: %w", repo, err)
		}
		return repo, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "cluster", "up.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo: no parent dir holds hack/cluster/up.sh; set KL_REPO")
		}
		dir = parent
	}
}

func cacheDir() string {
	if d := os.Getenv("KL_CACHE"); d != "" {
		return d
	}
	return "/var/cache/kubelet-lite"
}

// parseEnv reads KEY=VALUE lines; other lines are ignored.
func parseEnv(data []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.HasPrefix(k, "#") {
			continue
		}
		env[k] = v
	}
	return env
}

// tail returns the last n lines of data.
func tail(data []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
