package volume

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// volumePath is where a set-up volume is on the host.
type volumePath struct {
	path string
	// apiData volumes are always mounted read-only.
	apiData bool
}

// isAPIData reports whether v's content comes from the API (and so is
// refreshed by Run).
func isAPIData(v *corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

// sourceType is the JSON name of the volume source that is set, e.g.
// "persistentVolumeClaim", or "" when none is.
func sourceType(vs *corev1.VolumeSource) string {
	rv := reflect.ValueOf(vs).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return ""
}

// Supported checks, without I/O, that the node can make every volume of
// pod: known types, absolute hostPaths, safe subPaths, volumeMounts naming
// existing volumes. Unknown types wrap ErrUnsupported; the error names the
// volume and its type.
func Supported(pod *corev1.Pod) error {
	names := map[string]bool{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		names[v.Name] = true
		switch t := sourceType(&v.VolumeSource); t {
		case "emptyDir", "configMap", "secret", "downwardAPI", "projected":
		case "hostPath":
			if !filepath.IsAbs(v.HostPath.Path) {
				return fmt.Errorf("volume %q: hostPath %q is not absolute", v.Name, v.HostPath.Path)
			}
		case "":
			return fmt.Errorf("volume %q has no source: %w", v.Name, ErrUnsupported)
		default:
			return fmt.Errorf("volume %q of type %s: %w", v.Name, t, ErrUnsupported)
		}
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, vm := range c.VolumeMounts {
				if !names[vm.Name] {
					return fmt.Errorf("container %q mounts volume %q, which the pod does not have", c.Name, vm.Name)
				}
				if vm.SubPath != "" {
					if err := validateSubPath(vm.SubPath); err != nil {
						return fmt.Errorf("container %q, volume %q: %w", c.Name, vm.Name, err)
					}
				}
			}
		}
	}
	return nil
}

// setupVolume makes one volume (or brings it up to date) and says where it
// is. The caller holds st.mu.
func (m *Manager) setupVolume(ctx context.Context, st *podState, v *corev1.Volume) (volumePath, error) {
	pod := st.pod
	switch {
	case v.HostPath != nil:
		if err := checkHostPath(v.HostPath.Path, v.HostPath.Type); err != nil {
			return volumePath{}, err
		}
		return volumePath{path: v.HostPath.Path}, nil
	case v.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, "empty-dir", v.Name)
		var err error
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			err = m.ensureTmpfs(dir, m.memorySize(pod, v.EmptyDir.SizeLimit))
		} else if v.EmptyDir.Medium == corev1.StorageMediumDefault {
			err = os.MkdirAll(dir, 0o777)
		} else {
			err = fmt.Errorf("emptyDir medium %q: %w", v.EmptyDir.Medium, ErrUnsupported)
		}
		if err == nil {
			err = emptyDirPerms(dir, fsGroup(pod))
		}
		return volumePath{path: dir}, err
	}
	var plugin string
	var pl payload
	var err error
	switch {
	case v.ConfigMap != nil:
		plugin = "configmap"
		pl, err = m.configMapPayload(ctx, pod, v.ConfigMap)
	case v.Secret != nil:
		plugin = "secret"
		pl, err = m.secretPayload(ctx, pod, v.Secret)
	case v.DownwardAPI != nil:
		plugin = "downward-api"
		pl = payload{}
		err = m.downwardAPIFiles(pl, pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		plugin = "projected"
		pl, err = m.projectedPayload(ctx, st, v.Name, v.Projected)
	default:
		return volumePath{}, fmt.Errorf("type %s: %w", sourceType(&v.VolumeSource), ErrUnsupported)
	}
	dir := m.volumeDir(pod.UID, plugin, v.Name)
	if err != nil {
		if written(dir) {
			// The volume was made before: it keeps its last content, as
			// upstream's stays mounted, so that a container can restart
			// while the apiserver is away. Run retries the refresh.
			klog.InfoS("Keeping the last content of a volume whose source cannot be read", "pod", klog.KObj(pod), "volume", v.Name, "err", err)
			return volumePath{path: dir, apiData: true}, nil
		}
		return volumePath{}, err
	}
	if plugin == "secret" || plugin == "projected" {
		// Secrets never touch the disk.
		err = m.ensureTmpfs(dir, m.memorySize(pod, nil))
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return volumePath{}, err
	}
	wrote, err := writeAtomic(dir, pl, fsGroup(pod))
	if err != nil {
		return volumePath{}, fmt.Errorf("write %s volume: %w", plugin, err)
	}
	if wrote {
		klog.V(2).InfoS("Wrote volume content", "pod", klog.KObj(pod), "volume", v.Name, "files", len(pl))
	}
	return volumePath{path: dir, apiData: true}, nil
}

// written says whether writeAtomic has written dir's content before.
func written(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, dataDirName))
	return err == nil
}

// fsGroup is the pod's fsGroup. Every volume type here is made by the node
// for the pod, so it is group-owned from the start and there is nothing to
// walk: fsGroupChangePolicy has no effect on them, as upstream documents
// for secret, configMap and emptyDir.
func fsGroup(pod *corev1.Pod) *int64 {
	if sc := pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}

// emptyDirPerms gives an emptyDir's root mode 0777 (the owner of a tmpfs
// keeps its 1777), and with an fsGroup that group and the setgid bit, as
// upstream.
func emptyDirPerms(dir string, gid *int64) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("stat emptyDir: %w", err)
	}
	mode := st.Mode() & (os.ModePerm | os.ModeSticky | os.ModeSetgid)
	want := mode | 0o777
	if gid != nil {
		if err := os.Chown(dir, -1, int(*gid)); err != nil {
			return fmt.Errorf("chown emptyDir to group %d: %w", *gid, err)
		}
		want |= os.ModeSetgid
	}
	if want != mode {
		if err := os.Chmod(dir, want); err != nil {
			return fmt.Errorf("chmod emptyDir: %w", err)
		}
	}
	return nil
}

// ensureTmpfs makes dir a tmpfs mount point of size bytes (0: the
// kernel's default) unless it already is one.
func (m *Manager) ensureTmpfs(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create volume directory: %w", err)
	}
	mounted, err := m.mnt.IsMountPoint(dir)
	if err != nil {
		return err
	}
	if mounted {
		return nil
	}
	if err := m.mnt.MountTmpfs(dir, size); err != nil {
		return err
	}
	return nil
}

// memorySize is the size of a memory-backed volume, as upstream: the
// node's allocatable memory, lowered to the pod's memory limit (when every
// container has one) and then to sizeLimit, each only when smaller and
// positive. 0 means no size option (nothing known).
func (m *Manager) memorySize(pod *corev1.Pod, sizeLimit *resource.Quantity) int64 {
	var size int64
	if q, ok := m.cfg.Allocatable[corev1.ResourceMemory]; ok && q.Sign() > 0 {
		size = q.Value()
	}
	lower := func(v int64) {
		if v > 0 && (size == 0 || v <= size) {
			size = v
		}
	}
	if res, err := translate.Pod(pod, translate.Node{}); err == nil {
		lower(res.Pod.Resources.MemoryMax)
	}
	if sizeLimit != nil {
		lower(sizeLimit.Value())
	}
	return size
}
