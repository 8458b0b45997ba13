package sandbox

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	_ "github.com/opencontainers/cgroups/devices" // lets libcontainer apply the device allow-list
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// init pins the main goroutine to the main thread for the life of the
// process (the documented LockOSThread-in-init idiom). libcontainer starts
// a goroutine that locks its thread and setns(2)es into the new container's
// mount namespace (to open bind-mount sources); the Go runtime ends such a
// thread when the goroutine returns, except the main thread, which it keeps
// "wedged" in that namespace forever, pinning the container's mounts (its
// overlay rootfs) long after removal. With the main thread taken, no
// libcontainer goroutine can run on it.
func init() {
	runtime.LockOSThread()
}

// killTimeout bounds the wait for a SIGKILLed container to be gone.
const killTimeout = 10 * time.Second

// Runtime runs pod sandboxes and containers. Its methods are safe for
// concurrent use; operations on one pod are serialized.
type Runtime struct {
	cfg    Config
	layout layout

	mu      sync.Mutex
	pods    map[types.UID]*sync.Mutex
	watches map[string]*exitWatch // by libcontainer ID
	closed  bool

	// owner holds an exclusive flock on Root/owner.lock for the Runtime's
	// lifetime; nil when another process (the running agent) owns the root
	// and this Runtime only reads.
	owner *os.File
	// binErr is why the agent binary cannot be PID 1 of containers, or nil.
	binErr error
}

// New returns a Runtime on cfg.Root. Unless cfg.ReadOnly, it owns the root
// (an exclusive flock, held until Close or process exit): it re-attaches
// exit watchers to the containers found running there, records the exits of
// those that stopped while no agent watched, and removes half-created
// leftovers. A read-only Runtime (such as `kubelet-lite ps` next to the
// agent) never takes the lock and never changes the state: only
// ContainerStatus and ListPods work, the other methods return ErrReadOnly.
func New(cfg Config) (*Runtime, error) {
	if cfg.Root == "" {
		return nil, errors.New("new sandbox runtime: root not set")
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("new sandbox runtime: find agent binary: %w", err)
		}
		cfg.Binary = exe
	}
	bin, err := filepath.EvalSymlinks(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("new sandbox runtime: agent binary: %w", err)
	}
	cfg.Binary = bin
	// Not fatal here, so `kubelet-lite ps` works from any build; pods cannot start.
	binErr := checkStatic(bin)
	if binErr != nil {
		klog.ErrorS(binErr, "Agent binary cannot run in containers", "binary", bin)
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/"
	}
	r := &Runtime{
		cfg:     cfg,
		layout:  layout{root: cfg.Root},
		pods:    map[types.UID]*sync.Mutex{},
		watches: map[string]*exitWatch{},
		binErr:  binErr,
	}
	for _, dir := range []string{r.layout.libcontainer(), r.layout.pods()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("new sandbox runtime: %w", err)
		}
	}
	if cfg.ReadOnly {
		return r, nil
	}
	owner, err := lockRoot(filepath.Join(cfg.Root, "owner.lock"))
	if err != nil {
		return nil, fmt.Errorf("new sandbox runtime: %w", err)
	}
	if owner == nil {
		return nil, fmt.Errorf("new sandbox runtime on %s: %w", cfg.Root, ErrRootInUse)
	}
	r.owner = owner
	if err := r.recover(); err != nil {
		r.Close()
		return nil, fmt.Errorf("new sandbox runtime: %w", err)
	}
	return r, nil
}

// checkStatic fails when the binary needs a dynamic loader: it runs as PID 1
// in containers whose rootfs has none (the sandbox's rootfs is empty).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("agent binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("agent binary %s is dynamically linked; build it with CGO_ENABLED=1 -tags 'netgo osusergo' -ldflags '-extldflags -static'", path)
		}
	}
	return nil
}

// lockRoot takes the exclusive owner lock; nil, nil if another process has it.
func lockRoot(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open owner lock: %w", err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, nil
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// writable fails with ErrReadOnly unless this Runtime owns the root.
func (r *Runtime) writable(op string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner == nil || r.closed {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	return nil
}

// Close stops the exit watchers and releases the root; containers keep
// running. For tests and shutdown.
func (r *Runtime) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.owner != nil {
		r.owner.Close()
		r.owner = nil
	}
	for id, w := range r.watches {
		w.stop()
		delete(r.watches, id)
	}
}

// podLock returns the mutex that serializes operations on one pod.
func (r *Runtime) podLock(uid types.UID) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.pods[uid]
	if !ok {
		m = &sync.Mutex{}
		r.pods[uid] = m
	}
	return m
}

// recover scans the state root after a (re)start.
func (r *Runtime) recover() error {
	entries, err := os.ReadDir(r.layout.pods())
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	known := map[string]bool{}
	for _, e := range entries {
		uid := types.UID(e.Name())
		if validUID(uid) != nil {
			continue
		}
		known[sandboxID(uid)] = true
		var pod podRecord
		if err := readJSON(filepath.Join(r.layout.pod(uid), podFile), &pod); err == nil && pod.PID > 0 {
			r.watchSandbox(uid, pod)
		}
		if err := r.recoverContainers(uid, known); err != nil {
			return err
		}
	}
	return r.removeOrphans(known)
}

// recoverContainers re-attaches the watchers of one pod's containers.
func (r *Runtime) recoverContainers(uid types.UID, known map[string]bool) error {
	names, err := r.containerNames(uid)
	if err != nil {
		return err
	}
	for _, name := range names {
		var meta containerRecord
		if err := readJSON(filepath.Join(r.layout.container(uid, name), metaFile), &meta); err != nil {
			klog.InfoS("Removing container without a record", "pod", uid, "container", name, "err", err)
			if err := r.removeContainer(uid, name); err != nil {
				return err
			}
			continue
		}
		if meta.PID == 0 { // the agent died while creating it
			klog.InfoS("Removing half-created container", "pod", uid, "container", name)
			if err := r.removeContainer(uid, name); err != nil {
				return err
			}
			continue
		}
		known[meta.ID] = true
		if _, err := os.Stat(filepath.Join(r.layout.container(uid, name), finalFile)); err == nil {
			continue
		}
		r.watchContainer(uid, name, meta)
	}
	return nil
}

// removeOrphans destroys libcontainer containers that no record names.
func (r *Runtime) removeOrphans(known map[string]bool) error {
	entries, err := os.ReadDir(r.layout.libcontainer())
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, e := range entries {
		if known[e.Name()] {
			continue
		}
		klog.InfoS("Destroying orphaned container", "id", e.Name())
		if err := r.destroy(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// containerNames lists the container directories of a pod.
func (r *Runtime) containerNames(uid types.UID) ([]string, error) {
	entries, err := os.ReadDir(r.layout.containers(uid))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && validName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// addWatch registers w under id, replacing (and stopping) an older one.
func (r *Runtime) addWatch(id string, w *exitWatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.watches[id]; old != nil {
		old.stop()
	}
	if r.closed {
		w.stop()
		return
	}
	r.watches[id] = w
}

// takeWatch removes and returns the watch of id, or nil.
func (r *Runtime) takeWatch(id string) *exitWatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.watches[id]
	delete(r.watches, id)
	return w
}

func (r *Runtime) watch(id string) *exitWatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watches[id]
}

// watchSandbox notifies OnExit(uid, "") when the sandbox exits.
func (r *Runtime) watchSandbox(uid types.UID, pod podRecord) {
	w, err := watchExit(pod.PID, pod.PIDStart, func() {
		klog.V(2).InfoS("Sandbox exited", "pod", klog.KRef(pod.Namespace, pod.Name), "uid", uid)
		if r.cfg.OnExit != nil {
			r.cfg.OnExit(uid, "")
		}
	})
	if err != nil {
		klog.ErrorS(err, "Cannot watch sandbox", "uid", uid)
		return
	}
	r.addWatch(pod.ID, w)
}

// watchContainer records the container's exit and notifies OnExit.
func (r *Runtime) watchContainer(uid types.UID, name string, meta containerRecord) {
	w, err := watchExit(meta.PID, meta.PIDStart, func() {
		if err := r.recordExit(uid, name, meta); err != nil {
			klog.ErrorS(err, "Cannot record container exit", "uid", uid, "container", name)
		}
		klog.V(2).InfoS("Container exited", "uid", uid, "container", name)
		if r.cfg.OnExit != nil {
			r.cfg.OnExit(uid, name)
		}
	})
	if err != nil {
		klog.ErrorS(err, "Cannot watch container", "uid", uid, "container", name)
		return
	}
	r.addWatch(meta.ID, w)
}

// destroy kills (if needed) and destroys the libcontainer container id,
// which removes its cgroup and libcontainer state; a missing one is fine.
func (r *Runtime) destroy(id string) error {
	c, err := libcontainer.Load(r.layout.libcontainer(), id)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load container %s: %w", id, err)
	}
	st, err := c.State()
	if err != nil {
		return fmt.Errorf("state of container %s: %w", id, err)
	}
	if alive(st.InitProcessPid, st.InitProcessStartTime) {
		if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return fmt.Errorf("kill container %s: %w", id, err)
		}
		if !waitGone(st.InitProcessPid, st.InitProcessStartTime, killTimeout) {
			return fmt.Errorf("kill container %s: still running after %s", id, killTimeout)
		}
	}
	if err := c.Destroy(); err != nil {
		return fmt.Errorf("destroy container %s: %w", id, err)
	}
	return nil
}
