package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
	"github.com/kubelet-lite/kubelet-lite/pkg/pid1"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// EnsureSandbox makes sure the pod's sandbox runs and returns its PID; its
// namespaces are at /proc/<pid>/ns/. A dead sandbox is destroyed and
// recreated (containers that joined the old one keep its namespaces).
func (r *Runtime) EnsureSandbox(ctx context.Context, spec SandboxSpec) (int, error) {
	if err := validUID(spec.UID); err != nil {
		return 0, fmt.Errorf("ensure sandbox: %w", err)
	}
	if err := errors.Join(ctx.Err(), r.writable("ensure sandbox"), r.binErr); err != nil {
		return 0, fmt.Errorf("ensure sandbox %s: %w", spec.UID, err)
	}
	lock := r.podLock(spec.UID)
	lock.Lock()
	defer lock.Unlock()

	podPath := filepath.Join(r.layout.pod(spec.UID), podFile)
	var pod podRecord
	if err := readJSON(podPath, &pod); err == nil && alive(pod.PID, pod.PIDStart) {
		return pod.PID, nil
	}
	id := sandboxID(spec.UID)
	if w := r.takeWatch(id); w != nil {
		w.stop()
	}
	if err := r.destroy(id); err != nil {
		return 0, fmt.Errorf("ensure sandbox %s: %w", spec.UID, err)
	}
	pod, err := r.createSandbox(spec, podPath)
	if err != nil {
		return 0, fmt.Errorf("ensure sandbox %s: %w", spec.UID, err)
	}
	r.watchSandbox(spec.UID, pod)
	klog.V(2).InfoS("Started sandbox", "pod", klog.KRef(spec.Namespace, spec.Name), "uid", spec.UID, "pid", pod.PID)
	return pod.PID, nil
}

// createSandbox creates and starts the sandbox container and records it.
func (r *Runtime) createSandbox(spec SandboxSpec, podPath string) (podRecord, error) {
	rootfs := r.layout.sandboxRootfs(spec.UID)
	for _, dir := range []string{rootfs, r.layout.containers(spec.UID)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return podRecord{}, err
		}
	}
	pod := podRecord{UID: spec.UID, Namespace: spec.Namespace, Name: spec.Name, ID: sandboxID(spec.UID), Spec: spec}
	if err := writeJSON(podPath, pod); err != nil {
		return podRecord{}, err
	}
	cgPath := cgroup.Abs(r.cfg.CgroupRoot, translate.SandboxCgroup(spec.PodCgroup))
	ociSpec := sandboxSpec(spec, rootfs, r.cfg.Binary, cgPath)
	// The pause process needs nothing beyond the default profile, whatever
	// the pod's containers ask for; a build without seccomp (the package's
	// own tests) runs it unconfined.
	if seccompBuiltIn {
		if err := setSeccomp(ociSpec, Seccomp{Type: SeccompRuntimeDefault}); err != nil {
			return podRecord{}, err
		}
	}
	cfg, err := libcontainerConfig(ociSpec, &cgroups.Resources{})
	if err != nil {
		return podRecord{}, err
	}
	c, err := libcontainer.Create(r.layout.libcontainer(), pod.ID, cfg)
	if err != nil {
		return podRecord{}, fmt.Errorf("create container: %w", err)
	}
	p := &libcontainer.Process{
		Args: []string{pid1.Path, pid1.PauseMode},
		Env:  []string{"PATH=/"},
		Cwd:  "/",
		Init: true,
	}
	if err := c.Run(p); err != nil {
		_ = c.Destroy()
		return podRecord{}, fmt.Errorf("start pause: %w", err)
	}
	st, err := c.State()
	if err != nil {
		return podRecord{}, fmt.Errorf("state: %w", err)
	}
	pod.PID, pod.PIDStart, pod.StartedAt = st.InitProcessPid, st.InitProcessStartTime, time.Now()
	if err := writeJSON(podPath, pod); err != nil {
		return podRecord{}, err
	}
	return pod, nil
}

// RemoveSandbox stops (SIGTERM, then SIGKILL after grace) and removes all
// the pod's containers, then its sandbox and state. Removing a pod that is
// gone is success.
func (r *Runtime) RemoveSandbox(ctx context.Context, uid types.UID, grace time.Duration) error {
	if err := validUID(uid); err != nil {
		return fmt.Errorf("remove sandbox: %w", err)
	}
	if err := r.writable("remove sandbox"); err != nil {
		return err
	}
	lock := r.podLock(uid)
	lock.Lock()
	defer lock.Unlock()

	names, err := r.containerNames(uid)
	if err != nil {
		return fmt.Errorf("remove sandbox %s: %w", uid, err)
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			if err := r.stopContainer(ctx, uid, name, grace); err != nil {
				errs[i] = err
				return
			}
			errs[i] = r.removeContainer(uid, name)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", uid, err)
	}
	id := sandboxID(uid)
	if w := r.takeWatch(id); w != nil {
		w.stop()
	}
	if err := r.destroy(id); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", uid, err)
	}
	if err := os.RemoveAll(r.layout.pod(uid)); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", uid, err)
	}
	klog.V(2).InfoS("Removed sandbox", "uid", uid)
	return nil
}
