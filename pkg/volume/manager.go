package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// ErrUnsupported is wrapped by the errors for volume types (and projected
// sources) this node does not implement; a pod with one cannot run here.
var ErrUnsupported = errors.New("unsupported volume type")

// DefaultResyncPeriod is the base period of Run's refresh (jittered up to
// twice as long).
const DefaultResyncPeriod = 15 * time.Second

// Config configures a Manager.
type Config struct {
	// Dir holds the pods' volumes, e.g. <root-dir>/pods; created if missing.
	Dir string
	// Getter reads ConfigMaps and Secrets and creates service-account
	// tokens. Nil in standalone mode: configMap, secret and token volumes
	// are then an error.
	Getter Getter
	// RootCAFile is the cluster CA (ca.crt) projected in place of the
	// ConfigMap kube-root-ca.crt while that does not exist yet. Optional.
	RootCAFile string
	// Allocatable is the node's allocatable resources: the default size of
	// memory-backed volumes and the default container limits that
	// resourceFieldRef reports. Optional.
	Allocatable corev1.ResourceList
	// ResyncPeriod is how often Run refreshes API data (default
	// DefaultResyncPeriod, jittered up to twice as long).
	ResyncPeriod time.Duration
}

// Manager sets up and tears down pods' volumes. It is safe for concurrent
// use; calls for one pod are serialized.
type Manager struct {
	cfg Config
	mnt mounter
	now func() time.Time

	mu   sync.Mutex
	pods map[types.UID]*podState
}

// podState is what the manager keeps of a set-up pod.
type podState struct {
	mu     sync.Mutex
	pod    *corev1.Pod
	tokens map[tokenKey]*token
	// gone is set by Teardown; a later Setup starts a new podState.
	gone bool
}

// New returns a Manager for cfg, creating cfg.Dir.
func New(cfg Config) (*Manager, error) {
	return newManager(cfg, hostMounter{})
}

func newManager(cfg Config, mnt mounter) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("volume manager: Dir is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create volume dir: %w", err)
	}
	// Mount points are compared with /proc/self/mountinfo, which shows
	// resolved paths.
	dir, err := filepath.EvalSymlinks(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolve volume dir: %w", err)
	}
	cfg.Dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve volume dir: %w", err)
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	return &Manager{cfg: cfg, mnt: mnt, now: time.Now, pods: map[types.UID]*podState{}}, nil
}

// checkUID rejects a UID that is not one plain path element: it names a
// directory below Config.Dir that Teardown removes.
func checkUID(uid types.UID) error {
	s := string(uid)
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("invalid pod UID %q", s)
	}
	return nil
}

// podDir is the directory of a pod's volumes.
func (m *Manager) podDir(uid types.UID) string {
	return filepath.Join(m.cfg.Dir, string(uid))
}

// volumeDir is the directory of one volume of a plugin (empty-dir,
// configmap, secret, downward-api, projected).
func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podDir(uid), "volumes", "kubernetes.io~"+plugin, name)
}

// state returns the pod's live state, creating it, and records pod as the
// newest version.
func (m *Manager) state(pod *corev1.Pod) *podState {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.pods[pod.UID]
	if !ok {
		st = &podState{tokens: map[tokenKey]*token{}}
		m.pods[pod.UID] = st
	}
	return st
}

// Setup makes every volume of pod (or brings it up to date: it is
// idempotent and meant to be called on every sync of the pod with its
// newest version, which is what downward API files show) and returns, per
// container name (init and app containers), the bind mounts of its
// volumeMounts: subPath resolved and pinned, readOnly as asked, and always
// read-only for configMap, secret, downwardAPI and projected volumes. The
// error names each volume that failed; it wraps ErrUnsupported for a type
// the node does not implement.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string][]sandbox.Mount, error) {
	if err := checkUID(pod.UID); err != nil {
		return nil, err
	}
	if err := Supported(pod); err != nil {
		return nil, err
	}
	var st *podState
	for {
		st = m.state(pod)
		st.mu.Lock()
		if !st.gone {
			break
		}
		// Torn down between state and Lock; the next state is new.
		st.mu.Unlock()
	}
	defer st.mu.Unlock()
	st.pod = pod
	paths := map[string]volumePath{}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setupVolume(ctx, st, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
			continue
		}
		paths[v.Name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("set up volumes of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	mounts, err := m.containerMounts(pod, paths)
	if err != nil {
		return nil, fmt.Errorf("set up volume mounts of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return mounts, nil
}

// Teardown unmounts every mount below the pod's directory and removes it;
// it works from disk alone (after an agent restart too), and a pod with
// nothing left is success. It refuses to remove anything while a mount
// remains.
func (m *Manager) Teardown(uid types.UID) error {
	if err := checkUID(uid); err != nil {
		return err
	}
	m.mu.Lock()
	st := m.pods[uid]
	delete(m.pods, uid)
	m.mu.Unlock()
	if st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.gone = true
	}
	dir := m.podDir(uid)
	for attempt := 0; ; attempt++ {
		mps, err := m.mnt.MountsUnder(dir)
		if err != nil {
			return fmt.Errorf("tear down volumes of pod %s: %w", uid, err)
		}
		if len(mps) == 0 {
			break
		}
		if attempt == 3 {
			return fmt.Errorf("tear down volumes of pod %s: still mounted: %v", uid, mps)
		}
		for _, mp := range mps {
			if err := m.mnt.Unmount(mp); err != nil {
				return fmt.Errorf("tear down volumes of pod %s: %w", uid, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("tear down volumes of pod %s: %w", uid, err)
	}
	klog.V(2).InfoS("Tore down volumes", "podUID", uid)
	return nil
}

// Pods lists the UIDs that have a directory under Config.Dir, so that a
// new agent can tear down those of pods that no longer exist.
func (m *Manager) Pods() ([]types.UID, error) {
	ents, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("list volume dir: %w", err)
	}
	var uids []types.UID
	for _, e := range ents {
		if e.IsDir() {
			uids = append(uids, types.UID(e.Name()))
		}
	}
	return uids, nil
}

// Run refreshes the API data (configMap, secret, downwardAPI, projected)
// of the pods set up, and renews their service-account tokens when due,
// every ResyncPeriod (jittered), until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	wait.JitterUntilWithContext(ctx, m.refreshAll, m.cfg.ResyncPeriod, 1.0, true)
}

// refreshAll refreshes every pod set up; errors are logged here, once, and
// retried on the next round.
func (m *Manager) refreshAll(ctx context.Context) {
	m.mu.Lock()
	states := make([]*podState, 0, len(m.pods))
	for _, st := range m.pods {
		states = append(states, st)
	}
	m.mu.Unlock()
	for _, st := range states {
		if err := m.refresh(ctx, st); err != nil {
			klog.ErrorS(err, "Refreshing volumes failed")
		}
	}
}

// refresh rewrites the API data volumes of one pod.
func (m *Manager) refresh(ctx context.Context, st *podState) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || st.pod == nil {
		return nil
	}
	var errs []error
	for i := range st.pod.Spec.Volumes {
		v := &st.pod.Spec.Volumes[i]
		if !isAPIData(v) {
			continue
		}
		if _, err := m.setupVolume(ctx, st, v); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("refresh volumes of pod %s/%s: %w", st.pod.Namespace, st.pod.Name, err)
	}
	return nil
}
