//go:build integration

package sandbox

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // early namespace entry for "init"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// libcontainer re-executes the test binary as "init" inside each container.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

var (
	agentBinary  string // the kubelet-lite binary, bind-mounted as PID 1
	busyboxLayer string // a single image layer with busybox
	cgroupRoot   string // below this test process's cgroup
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		log.Fatal("sandbox integration tests need root")
	}
	tmp, err := os.MkdirTemp("", "sandbox-it-")
	if err != nil {
		log.Fatal(err)
	}
	agentBinary = buildAgent(tmp)
	busyboxLayer = busybox()
	cgroupRoot = testCgroupRoot()
	created := existingAncestors(cgroupRoot)
	code := m.Run()
	if err := removeCgroups(cgroupRoot, created); err != nil {
		log.Print(err)
		code = 1
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

// buildAgent builds cmd/kubelet-lite into dir, statically: it runs inside
// containers whose rootfs has no dynamic loader (the sandbox's has nothing).
func buildAgent(dir string) string {
	out := filepath.Join(dir, "kubelet-lite")
	cmd := exec.Command("go", "build", "-tags", "netgo osusergo", "-ldflags", "-extldflags -static",
		"-o", out, "../../cmd/kubelet-lite")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("build agent: %v", err)
	}
	return out
}

// busybox returns a layer directory with Debian's static busybox and its
// applet links, built once into the cache ($KL_CACHE or /var/cache/kubelet-lite).
func busybox() string {
	cache := os.Getenv("KL_CACHE")
	if cache == "" {
		cache = "/var/cache/kubelet-lite"
	}
	layer := filepath.Join(cache, "busybox-layer")
	if _, err := os.Stat(filepath.Join(layer, "bin", "sh")); err == nil {
		return layer
	}
	work, err := os.MkdirTemp("", "busybox-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	run := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Dir = work
		out, err := cmd.Output()
		if err != nil {
			log.Fatalf("%s %v: %v", name, args, err)
		}
		return string(out)
	}
	run("apt-get", "download", "busybox-static")
	debs, _ := filepath.Glob(filepath.Join(work, "busybox-static_*.deb"))
	if len(debs) != 1 {
		log.Fatalf("busybox-static: downloaded %v", debs)
	}
	x := filepath.Join(work, "x")
	run("dpkg", "-x", debs[0], x)
	for _, d := range []string{"etc", "tmp", "root", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(x, d), 0o755); err != nil {
			log.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(x, "tmp"), 0o1777); err != nil {
		log.Fatal(err)
	}
	for _, applet := range strings.Fields(run(filepath.Join(x, "bin", "busybox"), "--list")) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(x, "bin", applet)); err != nil && !os.IsExist(err) {
			log.Fatal(err)
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		log.Fatal(err)
	}
	os.RemoveAll(layer)
	if err := os.Rename(x, layer); err != nil {
		log.Fatal(err)
	}
	return layer
}

// testCgroupRoot is a fresh cgroup path below this process's memory cgroup
// (the unified one on cgroup v2).
func testCgroupRoot() string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	own := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if (cgroups.IsCgroup2UnifiedMode() && parts[0] == "0") || parts[1] == "memory" {
			own = parts[2]
		}
	}
	if own == "" {
		log.Fatal("no memory cgroup in /proc/self/cgroup")
	}
	b := make([]byte, 4)
	rand.Read(b)
	return filepath.Join(own, "kl-test-"+hex.EncodeToString(b))
}

// hierarchies are the mount points of the cgroup hierarchies.
func hierarchies() []string {
	if cgroups.IsCgroup2UnifiedMode() {
		return []string{"/sys/fs/cgroup"}
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// existingAncestors maps each hierarchy to the deepest existing ancestor of
// path in it, so cleanup removes only what the tests created.
func existingAncestors(path string) map[string]string {
	out := map[string]string{}
	for _, h := range hierarchies() {
		p := path
		for p != "/" {
			if _, err := os.Stat(filepath.Join(h, p)); err == nil {
				break
			}
			p = filepath.Dir(p)
		}
		out[h] = p
	}
	return out
}

// removeCgroups removes path and everything below it, and the parents the
// tests created, in every hierarchy.
func removeCgroups(path string, keep map[string]string) error {
	var errs []string
	for h, stop := range keep {
		var dirs []string
		filepath.WalkDir(filepath.Join(h, path), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil {
				errs = append(errs, err.Error())
			}
		}
		for p := filepath.Dir(path); p != stop && p != "/"; p = filepath.Dir(p) {
			os.Remove(filepath.Join(h, p))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove test cgroups: %s", strings.Join(errs, "; "))
	}
	return nil
}

// exits collects OnExit calls.
type exits struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newExits() *exits { return &exits{ch: map[string]chan struct{}{}} }

func (e *exits) get(uid types.UID, name string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := string(uid) + "/" + name
	if e.ch[k] == nil {
		e.ch[k] = make(chan struct{}, 16)
	}
	return e.ch[k]
}

func (e *exits) onExit(uid types.UID, name string) { e.get(uid, name) <- struct{}{} }

// wait waits for OnExit(uid, name).
func (e *exits) wait(t *testing.T, uid types.UID, name string, timeout time.Duration) {
	t.Helper()
	select {
	case <-e.get(uid, name):
	case <-time.After(timeout):
		t.Fatalf("no exit of %s/%s within %s", uid, name, timeout)
	}
}

// newRuntime opens a Runtime on root, closed at the end of the test.
func newRuntime(t *testing.T, root string, e *exits) *Runtime {
	t.Helper()
	cfg := Config{Root: root, Binary: agentBinary, CgroupRoot: cgroupRoot}
	if e != nil {
		cfg.OnExit = e.onExit
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func newUID() types.UID {
	b := make([]byte, 8)
	rand.Read(b)
	return types.UID("it-" + hex.EncodeToString(b))
}

func podCgroup(uid types.UID) string { return "kubepods/pod" + string(uid) }

func podSpec(uid types.UID) SandboxSpec {
	return SandboxSpec{UID: uid, Namespace: "default", Name: "web", Hostname: "web-host", PodCgroup: podCgroup(uid)}
}

// ctrSpec runs a shell script in busybox.
func ctrSpec(t *testing.T, uid types.UID, name, script string) ContainerSpec {
	return ContainerSpec{
		PodUID: uid, Name: name, Image: "busybox", ImageID: "sha256:test",
		Layers: []string{busyboxLayer},
		Args:   []string{"sh", "-c", script},
		Env:    []string{"PATH=/bin"},
		Cgroup: translate.Cgroup{Path: podCgroup(uid) + "/" + name, Resources: translate.Resources{
			CPUShares: 1024, CPUQuota: -1, CPUPeriod: 100000, MemoryMax: -1}},
		LogPath:  filepath.Join(t.TempDir(), "logs", name, "0.log"),
		Security: translate.Security{Capabilities: translate.DefaultCapabilities},
	}
}

// logText returns the content of a CRI log file, one line per entry.
func logText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.SplitN(line, " ", 4); len(f) == 4 {
			b.WriteString(f[3] + "\n")
		}
	}
	return b.String()
}

// waitLog waits until the container's log contains want.
func waitLog(t *testing.T, path, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		text := logText(t, path)
		if strings.Contains(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s has no %q within %s:\n%s", path, want, timeout, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nsInode is the namespace identity of a process, like "net:[4026531840]".
func nsInode(t *testing.T, pid int, ns string) string {
	t.Helper()
	s, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertNoTraces checks that nothing of the runtime's pods is left: no
// mounts below root, no pod state, no libcontainer state, no leaf cgroups.
func assertNoTraces(t *testing.T, root string, uid types.UID, names ...string) {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), root) {
		t.Errorf("mounts below %s left:\n%s", root, grepLines(string(mi), root))
	}
	if _, err := os.Stat(filepath.Join(root, "pods", string(uid))); !os.IsNotExist(err) {
		t.Errorf("pod state dir left (stat: %v)", err)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "libcontainer")); len(left) > 0 {
		t.Errorf("libcontainer state of pod %s: left %v", uid, left)
	}
	if z := zombieChildren(); len(z) > 0 {
		t.Errorf("zombie children of the test process: %v", z)
	}
	for _, h := range hierarchies() {
		for _, n := range append(names, translate.SandboxCgroupName) {
			p := filepath.Join(h, cgroupRoot, podCgroup(uid), n)
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left (stat: %v)", p, err)
			}
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// zombieChildren lists the unreaped children of this process.
func zombieChildren() []string {
	var out []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(data), ") ")
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[0] == "Z" && fields[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, f)
		}
	}
	return out
}
