#!/usr/bin/env bash
# run-example.sh builds kubelet-lite and its images and runs the example
# static pods of manifests/examples on this machine, in the foreground, until
# Ctrl-C; then it removes the pods through the agent (graceful stop) and stops
# the agent. With KL_RUN_FOR=SECONDS it stops by itself after that long and
# fails unless every example container was running (used by the tests).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$repo"
hack/deps.sh
hack/build.sh
hack/images/build.sh "$KL_CACHE/images"

root=${KL_RUN_ROOT:-/var/lib/kubelet-lite}
logs=${KL_RUN_LOGS:-/var/log/pods}
work=$KL_CACHE/run
manifests=$work/manifests
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cgroot=/
else
	# A cgroup v1/hybrid host: nest below this shell's own cgroup.
	cgroot=$(own_cgroup)/kubelet-lite
	cgroot=${cgroot//\/\//\/}
fi
mkdir -p "$manifests" "$logs"
rm -f "$manifests"/*
cp manifests/examples/*.yaml "$manifests"/
for img in "$KL_CACHE"/images/*.tar; do
	"$bin/kubelet-lite" images --root-dir "$root" import "$img" >/dev/null
done

"$bin/kubelet-lite" run --pod-manifest-path "$manifests" --root-dir "$root" --log-dir "$logs" \
	--cgroup-root "$cgroot" -v 1 >"$work/agent.log" 2>&1 &
agent=$!
cat <<MSG

kubelet-lite is running (pid $agent) with the pods of manifests/examples.
  agent log:      $work/agent.log
  pods:           $bin/kubelet-lite ps --root-dir $root
  container logs: $logs/<namespace>_<pod>_<uid>/<container>/<restart>.log
  cgroups:        $cgroot/kubepods/... ($bin/kubelet-lite translate -f manifests/examples/web.yaml)
  manifests:      $manifests (add, change or remove files to start, restart or stop pods)
Ctrl-C stops the pods and the agent.
MSG

stop() {
	trap - INT TERM
	echo "stopping: removing the pods, then the agent"
	rm -f "$manifests"/*
	for _ in $(seq 120); do
		case "$("$bin/kubelet-lite" ps --root-dir "$root" -o json)" in null | "[]") break ;; esac
		sleep 0.5
	done
	kill -TERM "$agent" 2>/dev/null || true
	wait "$agent" 2>/dev/null || true
	"$bin/kubelet-lite" ps --root-dir "$root"
}
trap 'stop; exit 0' INT TERM

if [ -n "${KL_RUN_FOR:-}" ]; then
	want=$(grep -c '^  - name:' manifests/examples/*.yaml | awk -F: '{s += $2} END {print s}')
	ok=0
	for _ in $(seq "$(( KL_RUN_FOR * 2 ))"); do
		n=$("$bin/kubelet-lite" ps --root-dir "$root" | grep -c ' running ' || true)
		if [ "$n" -ge "$want" ]; then ok=1; break; fi
		sleep 0.5
	done
	"$bin/kubelet-lite" ps --root-dir "$root"
	stop
	if [ $ok = 1 ]; then echo "run: all $want example containers were running"; exit 0; fi
	echo "run: not every example container was running; agent log:"; tail -50 "$work/agent.log"
	exit 1
fi
tail -f "$work/agent.log" &
wait "$agent"
