#!/usr/bin/env bash
# up.sh starts a local Kubernetes cluster on 127.0.0.1: the pinned upstream control plane (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler; built by build.sh when needed) with
# Node,RBAC authorization and the NodeRestriction admission plugin, and kubelet-lite as its node —
# natively when this kernel has cgroup v2 with the cpu and memory controllers, otherwise in the node
# VM (hack/nodevm), which reaches the apiserver through a qemu guestfwd to 10.0.2.100 and serves the
# kubelet API on host loopback through a hostfwd. Every port, the kubelet's too, is picked free, so
# clusters in different dirs can run side by side. down.sh stops it.
#
# Usage: hack/cluster/up.sh [--dir DIR] [--node NAME] [--node-address IP] [--no-agent] [--agent native|vm]
#                           [--apiserver-arg ARG]... [--controller-manager-arg ARG]...
#   --dir DIR     cluster dir: PKI, kubeconfigs, etcd data, logs, PIDs (default $KL_CLUSTER_DIR,
#                 else $KL_CACHE/cluster/run)
#   --node NAME   the node's name (default: this host's short name, lower case)
#   --node-address IP  the address the node reports and serves its kubelet API on (default
#                 127.0.0.1). The apiserver's node proxy (`kubectl get --raw .../nodes/N/proxy/...`)
#                 refuses loopback; hack/e2e-netns.sh makes a network namespace with a routable one.
#   --no-agent    start only the control plane
#   --agent MODE  force native or vm instead of choosing by the kernel's cgroups
#   --apiserver-arg ARG, --controller-manager-arg ARG
#                 one more argument for that component, after its own (tests use these for
#                 bootstrap-token authentication or a short certificate signing duration)
# Prints `export KUBECONFIG=DIR/admin.kubeconfig` last. On failure it stops what it started.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$repo/hack/cluster/lib.sh"

dir=${KL_CLUSTER_DIR:-$KL_CACHE/cluster/run}
node=$(hostname -s | tr '[:upper:]' '[:lower:]')
agent=auto
node_address=127.0.0.1
apiserver_args=()
controller_manager_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--dir) dir=${2:?--dir needs a dir}; shift 2 ;;
	--node) node=${2:?--node needs a name}; shift 2 ;;
	--node-address) node_address=${2:?--node-address needs an IP}; shift 2 ;;
	--no-agent) agent=none; shift ;;
	--agent) agent=${2:?--agent needs native or vm}; shift 2 ;;
	--apiserver-arg) apiserver_args+=("${2:?--apiserver-arg needs an argument}"); shift 2 ;;
	--controller-manager-arg) controller_manager_args+=("${2:?--controller-manager-arg needs an argument}"); shift 2 ;;
	-h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "up.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case "$agent" in auto | none | native | vm) ;; *) echo "up.sh: --agent must be native or vm" >&2; exit 2 ;; esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

die() {
	echo "up.sh: error: $*" >&2
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# start NAME BINARY ARGS... runs BINARY in its own session, logging to DIR/logs/NAME.log, and records
# its PID and start time in DIR/pids/NAME.
start() {
	local name=$1 pid start
	shift
	setsid "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
	pid=$!
	start=$(proc_starttime "$pid") || die "$name exited at once; see $dir/logs/$name.log"
	echo "$pid $start" >"$dir/pids/$name"
}

# wait_until NAME SECONDS COMMAND... polls COMMAND until it succeeds, failing when NAME's process
# has exited or SECONDS have passed.
wait_until() {
	local name=$1 secs=$2 deadline
	shift 2
	deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		recorded_alive "$name" || { tail -n 20 "$dir/logs/$name.log" >&2; die "$name exited; see $dir/logs/$name.log"; }
		[ "$(date +%s)" -lt "$deadline" ] || { tail -n 20 "$dir/logs/$name.log" >&2; die "$name not ready after ${secs}s"; }
		sleep 0.5
	done
}

cleanup_on_failure() {
	local rc=$?
	[ "$rc" = 0 ] && return
	echo "up.sh: failed (exit $rc); stopping what was started (logs stay in $dir/logs)" >&2
	"$repo/hack/cluster/down.sh" --dir "$dir" >&2 || true
}

check_not_running() {
	local c any=0 all=1
	for c in "${components[@]}"; do
		if recorded_alive "$c"; then any=1; elif [ "$c" != agent ]; then all=0; fi
	done
	[ "$any" = 1 ] || return 0
	if [ "$all" = 1 ]; then
		echo "cluster in $dir is already running"
		echo "export KUBECONFIG=$dir/admin.kubeconfig"
		exit 0
	fi
	die "part of the cluster in $dir still runs; run hack/cluster/down.sh --dir $dir first"
}

choose_agent() {
	[ "$agent" = auto ] || return 0
	local ctrl=/sys/fs/cgroup/cgroup.controllers
	if [ -f "$ctrl" ] && grep -qw cpu "$ctrl" && grep -qw memory "$ctrl"; then
		agent=native
	else
		agent=vm
	fi
}

# tools builds this repo's small helpers (pki, freeport) into DIR/bin.
tools() {
	mkdir -p "$dir/bin"
	(cd "$repo" && CGO_ENABLED=0 go build -o "$dir/bin/" ./hack/cluster/pki ./hack/cluster/freeport)
}

main() {
	command -v curl >/dev/null || die "curl missing (apt-get install curl)"
	check_not_running
	choose_agent
	local t0
	t0=$(now)
	"$repo/hack/cluster/build.sh"
	tools
	trap cleanup_on_failure EXIT
	rm -rf "$dir/pids" "$dir/logs"
	mkdir -p "$dir/pids" "$dir/logs"
	local ports
	mapfile -t ports < <("$dir/bin/freeport" 7)
	etcd_port=${ports[0]} etcd_peer_port=${ports[1]} api_port=${ports[2]}
	cm_port=${ports[3]} sched_port=${ports[4]} kubelet_port=${ports[5]} healthz_port=${ports[6]}
	server=https://127.0.0.1:$api_port
	"$dir/bin/pki" --dir "$dir" --server "$server"
	cat >"$dir/env" <<-ENV
		NODE=$node
		AGENT=$agent
		API_SERVER=$server
		API_PORT=$api_port
		ETCD_PORT=$etcd_port
		ETCD_PEER_PORT=$etcd_peer_port
		CONTROLLER_MANAGER_PORT=$cm_port
		SCHEDULER_PORT=$sched_port
		KUBELET_PORT=$kubelet_port
		KUBELET_HEALTHZ_PORT=$healthz_port
		NODE_ADDRESS=$node_address
	ENV
	local t1
	t1=$(now)
	start_etcd
	start_apiserver
	start_controllers
	bind_node_proxier
	echo "control plane ready in $(since "$t1")s (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)"
	case "$agent" in
	native) start_agent_native ;;
	vm) start_agent_vm ;;
	esac
	trap - EXIT
	cat <<-MSG

		cluster up in $(since "$t0")s, dir $dir (logs in $dir/logs; stop with hack/cluster/down.sh --dir $dir)
		kubectl: $cluster_bin/kubectl
		export KUBECONFIG=$dir/admin.kubeconfig
	MSG
}

. "$repo/hack/cluster/components.sh"
main
