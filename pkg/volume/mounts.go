package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/expansion"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// containerMounts maps each container's volumeMounts to bind mounts.
func (m *Manager) containerMounts(pod *corev1.Pod, paths map[string]volumePath) (map[string][]sandbox.Mount, error) {
	out := map[string][]sandbox.Mount{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for ci := range list {
			c := &list[ci]
			for i, vm := range c.VolumeMounts {
				vp, ok := paths[vm.Name]
				if !ok {
					return nil, fmt.Errorf("container %q mounts unknown volume %q", c.Name, vm.Name)
				}
				src := vp.path
				sub := vm.SubPath
				if vm.SubPathExpr != "" {
					sub = expansion.Expand(vm.SubPathExpr, containerEnv(pod, c))
					if err := validateSubPath(sub); err != nil {
						return nil, fmt.Errorf("container %q, volume %q: subPathExpr %q: %w", c.Name, vm.Name, vm.SubPathExpr, err)
					}
				}
				if sub != "" {
					var err error
					if src, err = m.pinSubPath(pod.UID, vm.Name, c.Name, i, vp.path, sub); err != nil {
						return nil, fmt.Errorf("container %q, volume %q: %w", c.Name, vm.Name, err)
					}
				}
				out[c.Name] = append(out[c.Name], sandbox.Mount{
					Source:      src,
					Destination: vm.MountPath,
					ReadOnly:    vm.ReadOnly || vp.apiData,
				})
			}
		}
	}
	for _, ms := range out {
		sortMounts(ms)
	}
	return out, nil
}

// sortMounts orders mounts parents first (by the depth of the
// destination, stable otherwise), as containerd does, so that a mount
// inside another volume's mount is not hidden by it.
func sortMounts(ms []sandbox.Mount) {
	depth := func(p string) int { return strings.Count(filepath.Clean("/"+p), "/") }
	sort.SliceStable(ms, func(i, j int) bool { return depth(ms[i].Destination) < depth(ms[j].Destination) })
}

// validateSubPath rejects absolute subPaths and any with a ".." element.
func validateSubPath(p string) error {
	if filepath.IsAbs(p) {
		return fmt.Errorf("subPath %q must be relative", p)
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return fmt.Errorf("subPath %q must not contain '..'", p)
		}
	}
	return nil
}

// pinSubPath resolves sub inside the volume at root (symlinks stay inside
// root), creating it as a directory when missing (as upstream), and
// bind-mounts what it resolved to onto
// <pod>/volume-subpaths/<volume>/<container>/<index> through its file
// descriptor, so that no later change in the volume can redirect the
// container's mount. An existing pin is reused; it does not follow later
// updates of the volume, as upstream.
func (m *Manager) pinSubPath(uid types.UID, volume, container string, index int, root, sub string) (string, error) {
	target := filepath.Join(m.podDir(uid), "volume-subpaths", volume, container, strconv.Itoa(index))
	if _, err := os.Lstat(target); err == nil {
		if ok, err := m.mnt.IsMountPoint(target); err != nil {
			return "", err
		} else if ok {
			return target, nil
		}
	}
	f, err := pathrs.OpenInRoot(root, sub)
	if errors.Is(err, fs.ErrNotExist) {
		st, serr := os.Stat(root)
		if serr != nil {
			return "", fmt.Errorf("stat volume: %w", serr)
		}
		if err := pathrs.MkdirAll(root, sub, st.Mode().Perm()); err != nil {
			return "", fmt.Errorf("create subPath %q: %w", sub, err)
		}
		f, err = pathrs.OpenInRoot(root, sub)
	}
	if err != nil {
		return "", fmt.Errorf("open subPath %q: %w", sub, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", fmt.Errorf("stat subPath %q: %w", sub, err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return "", fmt.Errorf("create subPath mount point: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o750)
	} else {
		var t *os.File
		if t, err = os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o640); err == nil {
			err = t.Close()
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create subPath mount point: %w", err)
	}
	if err := m.mnt.Bind("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), target); err != nil {
		return "", fmt.Errorf("pin subPath %q: %w", sub, err)
	}
	return target, nil
}

// containerEnv is what subPathExpr can reference: the container's env
// entries with a literal value or a fieldRef to pod metadata, the node
// name or the service account name. Entries from other sources (secrets,
// configMaps, resources) are not known here and stay unexpanded.
func containerEnv(pod *corev1.Pod, c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expansion.Expand(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			switch p := e.ValueFrom.FieldRef.FieldPath; p {
			case "spec.nodeName":
				env[e.Name] = pod.Spec.NodeName
			case "spec.serviceAccountName":
				env[e.Name] = pod.Spec.ServiceAccountName
			default:
				if v, err := fieldValue(pod, p); err == nil {
					env[e.Name] = v
				}
			}
		}
	}
	return env
}
