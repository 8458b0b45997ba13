# Shared by up.sh and down.sh: the layout of a cluster dir and the recorded
# processes. Source it after hack/lib.sh; it changes nothing.
#
# DIR/env          KEY=VALUE lines: ports, node name, agent mode (read by down.sh and test/e2e/cluster)
# DIR/pids/NAME    "PID STARTTIME" of each process up.sh started (STARTTIME: field 22 of /proc/PID/stat,
#                  so that a recycled PID is never signalled)
# DIR/logs/NAME.log, DIR/pki/, DIR/*.kubeconfig, DIR/etcd/ (data), DIR/node/ (the agent's dirs)

# Stop order of down.sh; up.sh starts them in reverse.
components=(agent scheduler controller-manager apiserver etcd)

cluster_bin=$KL_CACHE/cluster/bin

# proc_starttime prints the start time (in clock ticks since boot) of PID.
proc_starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	awk '{ print $20 }' <<<"$stat"
}

# proc_alive tells whether PID runs and started at STARTTIME. A zombie counts as gone once it is
# the last of its threads (its leader turns zombie while the other threads still exit).
proc_alive() {
	local pid=$1 start=$2 stat tasks
	[ "$(proc_starttime "$pid")" = "$start" ] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" = Z ] || return 0
	tasks=(/proc/"$pid"/task/*)
	[ "${#tasks[@]}" -gt 1 ] && [ -e "${tasks[1]}" ]
}

# recorded_alive NAME tells whether the process recorded as NAME in $dir/pids still runs.
recorded_alive() {
	local f=$dir/pids/$1 pid start
	[ -f "$f" ] || return 1
	read -r pid start <"$f" || return 1
	proc_alive "$pid" "$start"
}
