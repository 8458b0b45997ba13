package volume

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mounter is the kernel's mount table as the manager uses it.
type mounter interface {
	// MountTmpfs mounts a tmpfs (nosuid, nodev) at dir, of size bytes
	// (0: no size option).
	MountTmpfs(dir string, size int64) error
	// Bind bind-mounts source (recursively) onto target.
	Bind(source, target string) error
	// IsMountPoint reports whether dir is a mount point.
	IsMountPoint(dir string) (bool, error)
	// MountsUnder lists the mount points at or below dir, the most recent
	// first (so that stacked and nested mounts come off in order).
	MountsUnder(dir string) ([]string, error)
	// Unmount unmounts target; one that is no mount point is success.
	Unmount(target string) error
}

// hostMounter is the mounter of the agent's mount namespace.
type hostMounter struct{}

func (hostMounter) MountTmpfs(dir string, size int64) error {
	data := ""
	if size > 0 {
		data = "size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

func (hostMounter) Bind(source, target string) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", source, target, err)
	}
	return nil
}

func (hostMounter) IsMountPoint(dir string) (bool, error) {
	ok, err := mountinfo.Mounted(dir)
	if err != nil {
		return false, fmt.Errorf("check mount point %s: %w", dir, err)
	}
	return ok, nil
}

func (hostMounter) MountsUnder(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	mps := make([]string, 0, len(infos))
	for _, in := range infos {
		mps = append(mps, in.Mountpoint)
	}
	slices.Reverse(mps)
	return mps, nil
}

func (hostMounter) Unmount(target string) error {
	err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
	if errors.Is(err, unix.EBUSY) {
		// Still in use by a process of ours: detach it from the tree now,
		// the kernel frees it when the last user goes.
		err = unix.Unmount(target, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}
