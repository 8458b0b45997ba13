# Shared settings of the hack/ scripts. Source it; it changes nothing.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export KL_CACHE=${KL_CACHE:-/var/cache/kubelet-lite}
export PATH=$PATH:/usr/local/go/bin
bin=$repo/bin

log() { printf '\n== %s\n' "$*"; }

# own_cgroup prints the cgroup this shell is in, on the controller the agent
# nests below (memory on v1, the unified one on v2).
own_cgroup() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup
	else
		awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup
	fi
}
