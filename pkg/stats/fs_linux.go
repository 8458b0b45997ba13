package stats

import (
	"fmt"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// fsStats is the filesystem holding dir, as cAdvisor reports a node fs:
// used is every block not free, available what an unprivileged user may
// still write.
func fsStats(dir string, now metav1.Time) (*statsapi.FsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	capacity, avail, used := st.Blocks*bs, st.Bavail*bs, (st.Blocks-st.Bfree)*bs
	inodes, free, iused := st.Files, st.Ffree, st.Files-st.Ffree
	return &statsapi.FsStats{
		Time:           now,
		CapacityBytes:  &capacity,
		AvailableBytes: &avail,
		UsedBytes:      &used,
		Inodes:         &inodes,
		InodesFree:     &free,
		InodesUsed:     &iused,
	}, nil
}
