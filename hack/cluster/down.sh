#!/usr/bin/env bash
# down.sh stops what up.sh started in DIR, by the PIDs it recorded and nothing else: the agent (or
# the node VM) first — after asking the apiserver and the manifest dir to remove the node's pods, so
# that a native agent stops their containers — then the scheduler, the controller-manager, the
# apiserver and etcd. Each gets SIGTERM, then SIGKILL after a grace period, and is waited for.
# Mounts left below DIR are unmounted. Idempotent: a stopped cluster is left as it is. The files
# (PKI, etcd data, logs) stay; delete DIR to start afresh.
#
# Usage: hack/cluster/down.sh [--dir DIR]   (default $KL_CLUSTER_DIR, else $KL_CACHE/cluster/run)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$repo/hack/cluster/lib.sh"

dir=${KL_CLUSTER_DIR:-$KL_CACHE/cluster/run}
while [ $# -gt 0 ]; do
	case "$1" in
	--dir) dir=${2:?--dir needs a dir}; shift 2 ;;
	-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "down.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ ! -d "$dir" ]; then
	echo "no cluster dir $dir; nothing to stop"
	exit 0
fi
dir=$(cd "$dir" && pwd)
NODE= AGENT= CGROUP_ROOT=
# shellcheck disable=SC1091
[ -f "$dir/env" ] && . "$dir/env"

# stop NAME [GRACE] sends SIGTERM to the recorded process NAME, SIGKILL after GRACE seconds
# (default 30), and waits until it is gone.
stop() {
	local name=$1 grace=${2:-30} f=$dir/pids/$1 pid start i
	[ -f "$f" ] || return 0
	read -r pid start <"$f" || true
	if [ -n "$pid" ] && proc_alive "$pid" "$start"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			proc_alive "$pid" "$start" || break
			sleep 0.1
		done
		if proc_alive "$pid" "$start"; then
			echo "$name (pid $pid) still runs after ${grace}s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			while proc_alive "$pid" "$start"; do sleep 0.1; done
		fi
		echo "stopped $name (pid $pid)"
	fi
	rm -f "$f"
}

# drain_native removes the node's pods through the apiserver and its static pods from the manifest
# dir, and waits (up to 90 s) until the agent reports no pods, so that no container outlives it.
drain_native() {
	local kubectl=$cluster_bin/kubectl agent_bin=$repo/bin/kubelet-lite i
	recorded_alive agent || return 0
	rm -f "$dir/node/manifests"/*
	if recorded_alive apiserver && [ -n "$NODE" ]; then
		"$kubectl" --kubeconfig "$dir/admin.kubeconfig" delete pods --all-namespaces \
			--field-selector "spec.nodeName=$NODE" --wait=false >/dev/null 2>&1 || true
	fi
	for ((i = 0; i < 180; i++)); do
		case "$("$agent_bin" ps --root-dir "$dir/node/root" -o json 2>/dev/null || echo error)" in
		null | "[]") return 0 ;;
		esac
		sleep 0.5
	done
	echo "down.sh: the agent still reports pods after 90s; stopping it anyway" >&2
}

# unmount_below unmounts every mount point below DIR, deepest first.
unmount_below() {
	local m
	awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" || echo "down.sh: cannot unmount $m" >&2
	done
}

# prune_cgroups removes the native agent's empty cgroups (kubepods below its cgroup root, or the
# root itself when up.sh made it) on every cgroup hierarchy; rmdir leaves any cgroup still in use.
prune_cgroups() {
	local top=$CGROUP_ROOT mnt
	[ -n "$top" ] || return 0
	[ "$top" = / ] && top=/kubepods
	for mnt in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts); do
		[ -d "$mnt$top" ] && find "$mnt$top" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	return 0
}

[ "$AGENT" = native ] && drain_native
stop agent 60
[ "$AGENT" = native ] && prune_cgroups
stop scheduler
stop controller-manager
stop apiserver
stop etcd
unmount_below
echo "cluster in $dir is down"
