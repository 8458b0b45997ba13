package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// overlayOptions is the overlayfs option string for layers (lowest first):
// overlayfs lists lower directories topmost first.
func overlayOptions(layers []string, upper, work string) (string, error) {
	if len(layers) == 0 {
		return "", errors.New("no image layers")
	}
	lower := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		if strings.ContainsAny(layers[i], ":,") {
			return "", fmt.Errorf("layer path %q contains ':' or ','", layers[i])
		}
		lower = append(lower, layers[i])
	}
	opts := "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) >= os.Getpagesize() {
		return "", fmt.Errorf("overlay options of %d layers exceed a page", len(layers))
	}
	return opts, nil
}

// mountRootfs mounts the overlay rootfs of a container at target.
func mountRootfs(layers []string, upper, work, target string) error {
	for _, dir := range []string{upper, work, target} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("mount rootfs: %w", err)
		}
	}
	opts, err := overlayOptions(layers, upper, work)
	if err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount rootfs at %s: %w", target, err)
	}
	return nil
}

// unmountRootfs unmounts target; not mounted or missing is success.
func unmountRootfs(target string) error {
	for {
		err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			continue // stacked mounts: unmount until none is left
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(target, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
				return fmt.Errorf("unmount rootfs %s: %w", target, err)
			}
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("unmount rootfs %s: %w", target, err)
		}
	}
}

// WritableLayer is the host directory of the container's writable rootfs
// layer (its overlay upper dir), for reading its disk usage. It names the
// directory without checking that it exists.
func (r *Runtime) WritableLayer(uid types.UID, name string) string {
	return filepath.Join(r.layout.container(uid, name), "upper")
}
