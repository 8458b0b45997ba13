package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
	"github.com/kubelet-lite/kubelet-lite/pkg/pid1"
)

// recordTimeout bounds the wait for an exit watcher to record an exit.
const recordTimeout = 5 * time.Second

// StartContainer creates and starts one attempt of a container in the
// pod's running sandbox. An exited container of the same name is removed
// first (its rootfs, cgroup and state); a running one is ErrRunning.
func (r *Runtime) StartContainer(ctx context.Context, spec ContainerSpec) (ContainerStatus, error) {
	if err := errors.Join(validUID(spec.PodUID), validName(spec.Name)); err != nil {
		return ContainerStatus{}, fmt.Errorf("start container: %w", err)
	}
	if err := errors.Join(ctx.Err(), r.writable("start container"), r.binErr); err != nil {
		return ContainerStatus{}, fmt.Errorf("start container %s/%s: %w", spec.PodUID, spec.Name, err)
	}
	lock := r.podLock(spec.PodUID)
	lock.Lock()
	defer lock.Unlock()

	var pod podRecord
	if err := readJSON(filepath.Join(r.layout.pod(spec.PodUID), podFile), &pod); err != nil || !alive(pod.PID, pod.PIDStart) {
		return ContainerStatus{}, fmt.Errorf("start container %s/%s: %w", spec.PodUID, spec.Name, ErrSandboxNotRunning)
	}
	dir := r.layout.container(spec.PodUID, spec.Name)
	var old containerRecord
	if err := readJSON(filepath.Join(dir, metaFile), &old); err == nil && alive(old.PID, old.PIDStart) {
		return ContainerStatus{}, fmt.Errorf("start container %s/%s: %w", spec.PodUID, spec.Name, ErrRunning)
	}
	if err := r.removeContainer(spec.PodUID, spec.Name); err != nil {
		return ContainerStatus{}, fmt.Errorf("start container %s/%s: replace: %w", spec.PodUID, spec.Name, err)
	}
	meta, err := r.createContainer(spec, pod, dir)
	if err != nil {
		if cerr := r.removeContainer(spec.PodUID, spec.Name); cerr != nil {
			klog.ErrorS(cerr, "Cannot clean up failed container", "uid", spec.PodUID, "container", spec.Name)
		}
		return ContainerStatus{}, fmt.Errorf("start container %s/%s: %w", spec.PodUID, spec.Name, err)
	}
	r.watchContainer(spec.PodUID, spec.Name, meta)
	klog.V(2).InfoS("Started container", "pod", klog.KRef(pod.Namespace, pod.Name), "container", spec.Name,
		"attempt", spec.Attempt, "pid", meta.PID)
	return r.status(spec.PodUID, spec.Name)
}

// createContainer mounts the rootfs, creates the libcontainer container and
// runs PID 1 in it, recording the container before and after.
func (r *Runtime) createContainer(spec ContainerSpec, pod podRecord, dir string) (containerRecord, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return containerRecord{}, err
	}
	proc := &processRecord{UID: int(spec.UID), GID: int(spec.GID), Env: spec.Env, Cwd: spec.WorkingDir}
	for _, g := range spec.AdditionalGIDs {
		proc.Groups = append(proc.Groups, int(g))
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	meta := containerRecord{
		ID: containerID(spec.PodUID, spec.Name, spec.Attempt), Name: spec.Name, Attempt: spec.Attempt,
		Image: spec.Image, ImageID: spec.ImageID, Cgroup: spec.Cgroup.Path, LogPath: spec.LogPath,
		Process: proc,
	}
	metaPath := filepath.Join(dir, metaFile)
	if err := writeJSON(metaPath, meta); err != nil {
		return meta, err
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := mountRootfs(spec.Layers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), rootfs); err != nil {
		return meta, err
	}
	res := cgroup.Resources(spec.Cgroup.Resources)
	if res.Memory > 0 && res.MemorySwap == 0 {
		res.MemorySwap = res.Memory // no swap for containers, as the kubelet does
	}
	cgPath := cgroup.Abs(r.cfg.CgroupRoot, spec.Cgroup.Path)
	ociSpec := containerSpec(spec, pod.Spec, pod.PID, rootfs, r.cfg.Binary, cgPath)
	if spec.Security.Privileged {
		devs, err := hostDevices()
		if err != nil {
			return meta, err
		}
		ociSpec.Linux.Devices = devs
	}
	// Privileged containers run without a seccomp filter, as containerd's
	// CRI runs them.
	if !spec.Security.Privileged {
		if err := setSeccomp(ociSpec, spec.Seccomp); err != nil {
			return meta, err
		}
	}
	cfg, err := libcontainerConfig(ociSpec, res)
	if err != nil {
		return meta, err
	}
	cfg.AppArmorProfile = spec.AppArmorProfile
	c, err := libcontainer.Create(r.layout.libcontainer(), meta.ID, cfg)
	if err != nil {
		return meta, fmt.Errorf("create container: %w", err)
	}
	if err := r.runPID1(c, spec, dir); err != nil {
		return meta, err
	}
	st, err := c.State()
	if err != nil {
		return meta, fmt.Errorf("state: %w", err)
	}
	meta.PID, meta.PIDStart, meta.StartedAt = st.InitProcessPid, st.InitProcessStartTime, time.Now()
	meta.CgroupPaths = st.CgroupPaths
	return meta, writeJSON(metaPath, meta)
}

// runPID1 starts pid1 in c with the log file as fd 3 and the exit file as fd 4.
func (r *Runtime) runPID1(c *libcontainer.Container, spec ContainerSpec, dir string) error {
	if spec.LogPath == "" {
		return errors.New("no log path")
	}
	if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o755); err != nil {
		return fmt.Errorf("log dir: %w", err)
	}
	logFile, err := os.OpenFile(spec.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	exitFile, err := os.OpenFile(filepath.Join(dir, exitFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("open exit file: %w", err)
	}
	defer exitFile.Close()
	args := append([]string{pid1.Path, pid1.ContainerMode, "--log-fd=3", "--exit-fd=4", "--"}, spec.Args...)
	groups := make([]int, len(spec.AdditionalGIDs))
	for i, g := range spec.AdditionalGIDs {
		groups[i] = int(g)
	}
	cwd := spec.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	p := &libcontainer.Process{
		Args: args, Env: spec.Env, Cwd: cwd,
		UID: int(spec.UID), GID: int(spec.GID), AdditionalGroups: groups,
		ExtraFiles: []*os.File{logFile, exitFile},
		Init:       true,
	}
	if err := c.Run(p); err != nil {
		return fmt.Errorf("run pid 1: %w", err)
	}
	return nil
}

// StopContainer sends SIGTERM to the container's PID 1 (which forwards it
// to the app) and SIGKILL to the whole container after grace. Stopping a
// container that is gone or exited is success.
func (r *Runtime) StopContainer(ctx context.Context, uid types.UID, name string, grace time.Duration) error {
	if err := errors.Join(validUID(uid), validName(name)); err != nil {
		return fmt.Errorf("stop container: %w", err)
	}
	if err := r.writable("stop container"); err != nil {
		return err
	}
	lock := r.podLock(uid)
	lock.Lock()
	defer lock.Unlock()
	return r.stopContainer(ctx, uid, name, grace)
}

func (r *Runtime) stopContainer(ctx context.Context, uid types.UID, name string, grace time.Duration) error {
	var meta containerRecord
	err := readJSON(filepath.Join(r.layout.container(uid, name), metaFile), &meta)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s/%s: %w", uid, name, err)
	}
	if !alive(meta.PID, meta.PIDStart) {
		r.awaitRecord(meta.ID)
		return nil
	}
	c, err := libcontainer.Load(r.layout.libcontainer(), meta.ID)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s/%s: %w", uid, name, err)
	}
	if grace > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < grace {
			grace = time.Until(dl)
		}
		if err := c.Signal(unix.SIGTERM); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return fmt.Errorf("stop container %s/%s: %w", uid, name, err)
		}
		if waitGone(meta.PID, meta.PIDStart, grace) {
			r.awaitRecord(meta.ID)
			return nil
		}
	}
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("kill container %s/%s: %w", uid, name, err)
	}
	if !waitGone(meta.PID, meta.PIDStart, killTimeout) {
		return fmt.Errorf("kill container %s/%s: still running after %s", uid, name, killTimeout)
	}
	r.awaitRecord(meta.ID)
	return nil
}

// awaitRecord waits for the exit watcher of id, if any, to record the exit.
func (r *Runtime) awaitRecord(id string) {
	if w := r.watch(id); w != nil && !w.wait(recordTimeout) {
		klog.InfoS("Exit of container not recorded in time", "id", id)
	}
}

// RemoveContainer kills the container if it still runs, destroys it and
// removes its rootfs, cgroup and state. Removing a container that is gone
// is success.
func (r *Runtime) RemoveContainer(ctx context.Context, uid types.UID, name string) error {
	if err := errors.Join(validUID(uid), validName(name)); err != nil {
		return fmt.Errorf("remove container: %w", err)
	}
	if err := r.writable("remove container"); err != nil {
		return err
	}
	lock := r.podLock(uid)
	lock.Lock()
	defer lock.Unlock()
	if err := r.stopContainer(ctx, uid, name, 0); err != nil {
		return fmt.Errorf("remove container %s/%s: %w", uid, name, err)
	}
	if err := r.removeContainer(uid, name); err != nil {
		return fmt.Errorf("remove container %s/%s: %w", uid, name, err)
	}
	return nil
}

// removeContainer destroys a stopped (or half-created) container and
// removes its directory.
func (r *Runtime) removeContainer(uid types.UID, name string) error {
	dir := r.layout.container(uid, name)
	var meta containerRecord
	err := readJSON(filepath.Join(dir, metaFile), &meta)
	if err != nil && !errors.Is(err, ErrNotFound) {
		klog.InfoS("Removing container with an unreadable record", "uid", uid, "container", name, "err", err)
	}
	if meta.ID != "" {
		if w := r.takeWatch(meta.ID); w != nil {
			if !w.wait(recordTimeout) {
				w.stop()
			}
		}
		if err := r.destroy(meta.ID); err != nil {
			return err
		}
	}
	if err := unmountRootfs(filepath.Join(dir, "rootfs")); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
