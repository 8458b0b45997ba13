#!/bin/busybox sh
# /init of the node VM (copied into the initramfs by run.sh; runs as PID 1 under busybox sh).
#
# Stage 1 (on the initramfs rootfs): makes the root a real mount (see stage1), because pivot_root(2)
# (libcontainer) fails when the root is the rootfs itself.
# Stage 2 (on that root): mounts the API filesystems and cgroup2, enables the controllers, loads
# the kernel modules, sets up lo and eth0, runs the command from /etc/nodevm/cmd between two markers
# on the serial console, writes /out and some metadata as a tar onto /dev/vda and ends qemu through
# isa-debug-exit (vmexit), falling back to poweroff.
#
# Files written by run.sh: /etc/nodevm/{cmd,env,config,modules}.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() { echo "nodevm: $*"; }

# mark records the kernel uptime at a phase boundary in $T (saved as nodevm-meta/timing).
T=
mark() { T="$T $1=$(cut -d' ' -f1 /proc/uptime)"; }

# stage1 gives stage 2 a root that is a real mount: pivot_root(2) fails with EINVAL when the
# caller's root is the initial rootfs, which has no parent mount. By default it bind-mounts the
# rootfs onto itself (no copy: the files stay where the kernel unpacked them); with NODEVM_ROOT=copy
# on the kernel command line it moves everything into a new tmpfs and switch_roots instead.
stage1() {
	bb=/bin/busybox
	$bb mkdir -p /proc /newroot
	$bb mount -t proc proc /proc && NODEVM_T_STAGE1=$($bb cut -d' ' -f1 /proc/uptime) && $bb umount /proc
	export NODEVM_T_STAGE1
	NODEVM_STAGE=2
	export NODEVM_STAGE
	if [ "${NODEVM_ROOT:-bind}" = bind ]; then
		$bb mount --bind / /newroot || return 1
		cd /newroot || return 1
		$bb mount --move . / || return 1
		exec $bb chroot . /init
	fi
	# A private busybox copy: /bin moves away in the loop below. Its name must end in "busybox".
	bb=/.nodevm-stage1/busybox
	/bin/busybox mkdir -p /.nodevm-stage1 && /bin/busybox cp /bin/busybox $bb || return 1
	$bb mount -t tmpfs -o mode=0755,size=90% root /newroot || return 1
	# mv across file systems copies then deletes, so the peak memory is one file, not the whole image.
	for e in /* /.[!.]*; do
		case "$e" in /newroot | /proc | /.nodevm-stage1 | '/.[!.]*') continue ;; esac
		# switch_root insists on a regular /init in the old root before it empties it.
		[ "$e" = /init ] && { $bb cp -a /init /newroot/init || return 1; continue; }
		$bb mv "$e" /newroot/ || return 1
	done
	$bb mkdir -p /newroot/proc /newroot/sys /newroot/dev
	exec $bb switch_root /newroot /init
}

mount_api() {
	mkdir -p /proc /sys /dev /tmp /run /var /out
	mount -t proc -o nosuid,nodev,noexec proc /proc
	mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
	mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
	mkdir -p /dev/pts /dev/shm
	mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
	mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
	mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
	mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
	mount -t tmpfs -o mode=0755 tmpfs /var
	mkdir -p /var/lib /var/log /var/run /run/lock
	[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
	# The root tmpfs (rootfs or the copy) may use most of the memory, not only half of it.
	mount -o remount,size=90% / || say "warning: cannot resize the root tmpfs"
	mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup
	# Enable every available controller for the children of the root; cpu, memory, pids, io and
	# cpuset are the ones the project relies on.
	for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
		echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || say "warning: cannot enable cgroup controller $c"
	done
	for c in cpu memory pids io cpuset; do
		grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control || say "warning: cgroup controller $c is not enabled"
	done
}

# load_modules loads /etc/nodevm/modules (with their dependencies) in one modprobe. Loading them in
# two parallel halves was measured slower under TCG.
load_modules() {
	[ -s /etc/nodevm/modules ] || return 0
	# shellcheck disable=SC2046
	modprobe -a $(cat /etc/nodevm/modules) || say "warning: some modules failed to load"
}

setup_net() {
	hostname nodevm
	ip link set lo up
	if ip link show eth0 >/dev/null 2>&1; then
		# qemu user network: guest 10.0.2.15/24, gateway (host side) 10.0.2.2. restrict=on keeps all
		# traffic inside qemu; guestfwd addresses such as 10.0.2.100 reach only what run.sh forwards.
		ip addr add 10.0.2.15/24 dev eth0
		ip link set eth0 up
		ip route add default via 10.0.2.2 dev eth0
	fi
}

# run_command runs the command in its own session with a watchdog; it sets rc.
run_command() {
	set -- # the command arrives as "set -- ..." in /etc/nodevm/cmd
	. /etc/nodevm/cmd
	cd /
	mark begin
	echo "===NODEVM-BEGIN $NODEVM_NONCE uptime=$(cut -d' ' -f1 /proc/uptime)==="
	setsid "$@" </dev/null &
	pid=$!
	wpid=
	# NODEVM_DEADLINE (kernel command line, from run.sh) is the kernel uptime at which the command
	# is stopped, a little before the host would kill qemu, so that /out is still saved.
	if [ "${NODEVM_DEADLINE:-0}" -gt 0 ]; then
		left=$((NODEVM_DEADLINE - $(cut -d. -f1 /proc/uptime)))
		[ "$left" -ge 1 ] || left=1
		(
			sleep "$left"
			touch /run/nodevm-timeout
			say "command still running at uptime ${NODEVM_DEADLINE}s (the deadline before --timeout), killing it"
			kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
			sleep 3
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
		) &
		wpid=$!
	fi
	wait "$pid"
	rc=$?
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null
	[ -e /run/nodevm-timeout ] && rc=124
	echo "===NODEVM-END $NODEVM_NONCE rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)==="
}

save_results() {
	mkdir -p /nodevm-meta
	echo "$rc" >/nodevm-meta/exit-code
	mark end
	echo "$T" >/nodevm-meta/timing
	dmesg >/nodevm-meta/dmesg.txt 2>&1
	i=0
	while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -b /dev/vda ]; then
		tar -c -f /dev/vda -C / out nodevm-meta || say "error: writing /out to /dev/vda failed (disk too small? see --out-size)"
		sync
	else
		say "error: no /dev/vda, results are lost"
	fi
}

stage2() {
	mount_api
	T="stage1=${NODEVM_T_STAGE1:-?}"
	unset NODEVM_T_STAGE1
	mark stage2
	[ -f /etc/nodevm/config ] && . /etc/nodevm/config
	[ -f /etc/nodevm/env ] && . /etc/nodevm/env
	KL_NODEVM=1
	HOME=/root
	export KL_NODEVM HOME
	unset NODEVM_STAGE
	load_modules
	mark modules
	setup_net
	mark net
	# Keep kernel chatter (OOM kills, module notes) off the console while the command runs; it is
	# saved as dmesg.txt with the results.
	echo 1 >/proc/sys/kernel/printk
	run_command
	save_results
	vmexit "$rc"
	say "vmexit failed, powering off"
	poweroff -f
}

if [ "$$" = 1 ] && [ "${NODEVM_STAGE:-1}" = 1 ]; then
	/bin/busybox --install -s
	stage1 || say "error: stage 1 failed, staying on the initramfs"
fi
stage2
