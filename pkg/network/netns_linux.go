package network

import "golang.org/x/sys/unix"

// usableNetNS returns path when it names a network namespace, or "" (CNI's "no netns") when
// it is empty, gone (a dead process's /proc/PID/ns/net) or no longer a namespace (a bind mount
// that was unmounted leaves an empty file, which the plugins would refuse).
func usableNetNS(path string) string {
	if path == "" {
		return ""
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		return ""
	}
	return path
}
