#!/usr/bin/env bash
# run.sh boots the node VM (Debian cloud kernel, busybox initramfs, cgroup v2, IPVS modules) under
# qemu TCG, runs one command inside it and exits with that command's exit code.
#
# Usage: hack/nodevm/run.sh [options] -- COMMAND [ARGS...]
#   --add HOSTPATH[:GUESTPATH]  put a file or directory into the guest (repeatable). GUESTPATH
#                               defaults to /usr/local/bin/BASENAME; a GUESTPATH ending in / gets
#                               BASENAME appended. /tmp, /run and /var are fresh tmpfs in the guest,
#                               so files there would be hidden.
#   --out HOSTDIR               where the guest's /out ends up (default: a new temp dir, printed).
#                               The serial log and the guest's dmesg go to HOSTDIR/.nodevm/.
#   --mem MB                    guest memory (default 2048)
#   --smp N                     guest CPUs (default 2; 1 is ~5x slower)
#   --timeout SEC               kill qemu after SEC seconds (default 600); the guest itself stops the
#                               command a little earlier so /out is still saved.
#   --add-bin HOSTPATH          put a dynamically linked program into the guest at the same path,
#                               with the shared libraries `ldd` names for it (repeatable)
#   --env K=V                   environment for the command (repeatable); also on the kernel cmdline
#   --module NAME               load one more kernel module (repeatable)
#   --netdev-opt OPT            append OPT to the user -netdev, e.g. hostfwd=tcp:127.0.0.1:10250-:10250
#                               (host loopback -> guest) or, for guest -> a server on host loopback,
#                               'guestfwd=tcp:10.0.2.100:6443-cmd:busybox nc 127.0.0.1 6443' (one
#                               host connection per guest connection; the tcp:HOST:PORT target form
#                               is a single connection opened when qemu starts)
#   --qemu-arg ARG              pass ARG to qemu (repeatable)
#   --append WORD               add WORD to the kernel command line (repeatable)
#   --out-size MB               size of the sparse result disk (default 1024)
#   --verbose                   print the whole serial log (boot included), not only the command's
#   --keep                      keep the work dir (initramfs, disk, log) and print where it is
# The guest gets KL_NODEVM=1. COMMAND runs with / as cwd, stdin /dev/null, stdout and stderr on the
# serial console. Exit codes: the command's own, 124 on timeout, 125 when the guest crashed or the
# VM could not be started.
#
# Environment: KL_CACHE (default /var/cache/kubelet-lite), KL_NODEVM_TMP (parent of the work dir).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KL_CACHE:-/var/cache/kubelet-lite}/nodevm

# Kernel modules. boot_modules are loaded by /init before the command runs (override the list with
# KL_NODEVM_BOOT_MODULES="a b c"); more_modules are only copied in, for modprobe and for the kernel's
# own on-demand loading (request_module runs the guest's busybox modprobe). Both come with their
# dependency closure; names this kernel lacks are skipped with a warning.
virtio_modules=(virtio_pci virtio_blk virtio_net)
boot_modules=(
	overlay veth bridge br_netfilter dummy
	nf_tables nft_chain_nat nft_ct nft_masq nft_nat
	ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh
	nf_conntrack nf_nat iptable_nat xt_MASQUERADE xt_conntrack xt_addrtype xt_mark xt_comment
	ip_set ip_set_hash_ip ip_set_hash_net ip_set_hash_ipport
)
if [ -n "${KL_NODEVM_BOOT_MODULES+x}" ]; then
	read -r -a boot_modules <<<"$KL_NODEVM_BOOT_MODULES"
fi
more_modules=(
	iptable_filter iptable_mangle iptable_raw ip6_tables ip6table_nat ip6table_filter ip6table_mangle
	xt_multiport xt_nat xt_set xt_physdev xt_tcpudp xt_statistic xt_recent xt_REDIRECT xt_NFLOG ipt_REJECT
	ip6t_REJECT nf_reject_ipv4 nf_reject_ipv6
	nft_compat nft_reject_inet nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nft_limit nft_redir nft_numgen
	nf_conntrack_netlink ip_set_hash_ipportip ip_set_hash_ipportnet ip_set_hash_netport ip_set_bitmap_port
	ip_vs_lc ip_vs_wlc ip_vs_mh ip_vs_sed ip_vs_nq ip_vs_ftp
	tun macvlan ipvlan vxlan sch_htb sch_ingress cls_u32 act_mirred ifb
)

die() {
	echo "nodevm: error: $*" >&2
	exit 125
}
warn() { echo "nodevm: warning: $*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# sq quotes one word for a POSIX shell.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

adds=() bins=() envs=() extra_modules=() netdev_opts=() qemu_args=() kernel_args=()
out= mem=2048 smp=2 timeout=600 out_size=1024 verbose=0 keep=0

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--add) adds+=("${2:?--add needs HOSTPATH[:GUESTPATH]}"); shift 2 ;;
		--add-bin) bins+=("${2:?--add-bin needs HOSTPATH}"); shift 2 ;;
		--out) out=${2:?--out needs a dir}; shift 2 ;;
		--mem) mem=${2:?--mem needs MB}; shift 2 ;;
		--smp) smp=${2:?--smp needs N}; shift 2 ;;
		--timeout) timeout=${2:?--timeout needs SEC}; shift 2 ;;
		--env) envs+=("${2:?--env needs K=V}"); shift 2 ;;
		--module) extra_modules+=("${2:?--module needs NAME}"); shift 2 ;;
		--netdev-opt) netdev_opts+=("${2:?--netdev-opt needs OPT}"); shift 2 ;;
		--qemu-arg) qemu_args+=("${2?--qemu-arg needs ARG}"); shift 2 ;;
		--append) kernel_args+=("${2:?--append needs WORD}"); shift 2 ;;
		--out-size) out_size=${2:?--out-size needs MB}; shift 2 ;;
		--verbose) verbose=1; shift ;;
		--keep) keep=1; shift ;;
		--) shift; break ;;
		-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown option $1 (the command goes after --)" ;;
		esac
	done
	[ $# -gt 0 ] || die "no command given (usage: run.sh [options] -- COMMAND [ARGS...])"
	command_argv=("$@")
	local n
	for n in "$mem" "$smp" "$timeout" "$out_size"; do
		[[ "$n" =~ ^[0-9]+$ ]] || die "not a number: $n"
	done
}

# build_initramfs fills $root and writes $work/initrd.cpio.
build_initramfs() {
	local kdir=$1 ver=$2
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin,etc/nodevm,etc/modprobe.d,dev,proc,sys,tmp,run,var,out,root,mnt,lib/modules}
	cp /bin/busybox "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	mknod -m 600 "$root/dev/console" c 5 1
	mknod -m 666 "$root/dev/null" c 1 3
	cp "$cache/bin/vmexit" "$root/bin/vmexit"
	install -m 0755 "$here/init.sh" "$root/init"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf '127.0.0.1 localhost\n10.0.2.15 nodevm\n::1 localhost\n' >"$root/etc/hosts"
	echo 'options dummy numdummies=0' >"$root/etc/modprobe.d/nodevm.conf"
	add_modules "$kdir" "$ver"
	add_files
	write_guest_config
	(cd "$root" && find . -mindepth 1 | cpio -o -H newc -R 0:0 --quiet) >"$work/initrd.cpio"
}

# add_modules copies each wanted module with its dependency closure and indexes them with depmod.
add_modules() {
	local kdir=$1 ver=$2 m line kind path loaded=() all=()
	local -A files=()
	all=("${virtio_modules[@]}" "${boot_modules[@]}" "${extra_modules[@]}" "${more_modules[@]}")
	local nboot=$((${#virtio_modules[@]} + ${#boot_modules[@]} + ${#extra_modules[@]})) i=0
	for m in "${all[@]}"; do
		i=$((i + 1))
		if ! line=$(modprobe -d "$kdir" -S "$ver" --show-depends "$m" 2>/dev/null); then
			warn "kernel $ver has no module $m, skipping it"
			continue
		fi
		while read -r kind path _; do
			[ "$kind" = insmod ] && files[${path#"$kdir"/}]=1
		done <<<"$line"
		[ "$i" -gt "$nboot" ] || loaded+=("$m")
	done
	if [ ${#files[@]} -gt 0 ]; then
		tar -C "$kdir" -cf - "${!files[@]}" | tar -C "$root" -xf -
	fi
	cp "$kdir/lib/modules/$ver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$ver/"
	depmod -b "$root" "$ver"
	printf '%s\n' "${loaded[@]}" >"$root/etc/nodevm/modules"
}

add_files() {
	local a hostpath guestpath lib
	for a in "${bins[@]}"; do
		[[ "$a" == /* && -x "$a" ]] || die "--add-bin $a: not an absolute path of a program"
		mkdir -p "$root$(dirname "$a")"
		cp -L "$a" "$root$a"
		# ldd prints "name => /path (addr)" per library and "/path (addr)" for the loader.
		for lib in $(ldd "$a" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
	for a in "${adds[@]}"; do
		hostpath=${a%%:*}
		if [ "$hostpath" = "$a" ]; then guestpath=/usr/local/bin/; else guestpath=${a#*:}; fi
		[ -e "$hostpath" ] || die "--add $a: $hostpath does not exist"
		[[ "$guestpath" == /* ]] || die "--add $a: guest path must be absolute"
		[[ "$guestpath" == */ ]] && guestpath=$guestpath$(basename "$hostpath")
		case "$guestpath" in
		/tmp/* | /run/* | /var/* | /proc/* | /sys/* | /dev/*) warn "--add $a: $guestpath is hidden by a mount in the guest" ;;
		esac
		mkdir -p "$root$(dirname "$guestpath")"
		rm -rf "${root:?}$guestpath"
		cp -a "$hostpath" "$root$guestpath"
	done
}

write_guest_config() {
	local w e
	{
		printf 'set --'
		for w in "${command_argv[@]}"; do printf ' %s' "$(sq "$w")"; done
		printf '\n'
	} >"$root/etc/nodevm/cmd"
	for e in "${envs[@]}"; do
		[[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env $e: want NAME=VALUE"
		printf 'export %s=%s\n' "${e%%=*}" "$(sq "${e#*=}")"
	done >"$root/etc/nodevm/env"
	printf 'NODEVM_NONCE=%s\n' "$nonce" >"$root/etc/nodevm/config"
}

# kernel_cmdline prints the -append string. --env words go here too (the kernel hands unknown
# key=value words to /init as environment); /etc/nodevm/env carries them exactly, spaces included.
kernel_cmdline() {
	local words=(console=ttyS0 quiet loglevel=4 panic=1 no_timer_check mitigations=off cgroup_no_v1=all KL_NODEVM=1) e
	# The guest stops the command at this kernel uptime, leaving time (qemu start, firmware, writing
	# /out) before the host's --timeout kills qemu.
	local spent deadline
	spent=$(awk -v s="$start" -v n="$(now)" 'BEGIN { printf "%d", n - s + 0.999 }')
	deadline=$((timeout - spent - 8 - timeout / 20))
	[ "$deadline" -ge 1 ] || deadline=1
	words+=("NODEVM_DEADLINE=$deadline")
	for e in "${envs[@]}"; do
		[[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]*=[^[:space:]\"]*$ ]] && words+=("$e")
	done
	words+=("${kernel_args[@]}")
	echo "${words[*]}"
}

# print_new_lines prints the serial log lines that arrived since the last call: all of them with
# --verbose, else only those between the markers.
print_new_lines() {
	local n b e from to
	[ -f "$log" ] || return 0
	n=$(wc -l <"$log")
	[ "$n" -gt "$shown" ] || return 0
	b=$(grep -n -m1 -a "^===NODEVM-BEGIN $nonce " "$log" | cut -d: -f1 || true)
	[ -z "$b" ] || [ -n "$begin_at" ] || begin_at=$(now)
	from=$((shown + 1)) to=$n
	if [ "$verbose" = 0 ]; then
		# Before the command starts, show only /init's own messages, on stderr.
		if [ -z "$b" ] || [ "$from" -lt "$b" ]; then
			sed -n "${from},${b:-$n}p" "$log" | tr -d '\r' | grep -a '^nodevm: ' >&2 || true
		fi
		if [ -z "$b" ]; then shown=$n; return 0; fi
		e=$(grep -n -m1 -a "^===NODEVM-END $nonce " "$log" | cut -d: -f1 || true)
		[ "$from" -gt "$b" ] || from=$((b + 1))
		[ -z "$e" ] || [ "$to" -lt "$e" ] || to=$((e - 1))
	fi
	[ "$from" -gt "$to" ] || sed -n "${from},${to}p" "$log" | tr -d '\r'
	shown=$n
}

start_qemu() {
	local kdir=$1 ver=$2 netdev
	netdev=user,id=n0,restrict=on
	local o
	for o in "${netdev_opts[@]}"; do netdev+=",$o"; done
	truncate -s "${out_size}M" "$work/out.raw"
	qemu-system-x86_64 \
		-accel tcg -cpu max -smp "$smp" -m "$mem" \
		-nodefaults -display none -monitor none -no-reboot \
		-kernel "$kdir/boot/vmlinuz-$ver" -initrd "$work/initrd.cpio" -append "$(kernel_cmdline)" \
		-serial "file:$log" \
		-drive "file=$work/out.raw,if=virtio,format=raw" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-netdev "$netdev" -device virtio-net-pci,netdev=n0,romfile= \
		"${qemu_args[@]}" </dev/null >"$work/qemu.out" 2>&1 &
	qemu_pid=$!
}

# wait_qemu streams the log until qemu exits or the timeout hits; sets qemu_rc and timed_out.
wait_qemu() {
	local deadline
	deadline=$(awk -v s="$start" -v t="$timeout" 'BEGIN { printf "%d", s + t }')
	timed_out=0
	while kill -0 "$qemu_pid" 2>/dev/null; do
		print_new_lines
		if [ "$(date +%s)" -ge "$deadline" ]; then
			timed_out=1
			warn "timeout after ${timeout}s, killing qemu (pid $qemu_pid)"
			kill -TERM "$qemu_pid" 2>/dev/null || true
			sleep 2
			kill -KILL "$qemu_pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	qemu_rc=0
	wait "$qemu_pid" || qemu_rc=$?
	qemu_pid=
	print_new_lines
}

collect_results() {
	local x=$work/extract
	mkdir -p "$x" "$out/.nodevm"
	if ! tar -C "$x" -xf "$work/out.raw" 2>"$work/tar.err"; then
		warn "cannot read the result disk: $(head -c 300 "$work/tar.err")"
	fi
	[ -d "$x/out" ] && cp -a "$x/out/." "$out/"
	[ -d "$x/nodevm-meta" ] && cp -a "$x/nodevm-meta/." "$out/.nodevm/"
	tr -d '\r' <"$log" >"$out/.nodevm/serial.log"
}

# exit_code decides the run's exit code from the END marker, the metadata and qemu's status.
exit_code() {
	local end rc
	end=$(grep -a -m1 "^===NODEVM-END $nonce " "$log" | tr -d '\r' || true)
	if [ -n "$end" ]; then
		rc=$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<<"$end")
		if [ "$qemu_rc" != $((((rc > 127 ? 127 : rc) << 1) | 1)) ] && [ "$timed_out" = 0 ]; then
			warn "qemu exited $qemu_rc, not as isa-debug-exit for rc $rc (vmexit failed?)"
		fi
		[ "$rc" = 124 ] && warn "the command timed out in the guest"
		echo "$rc"
		return
	fi
	if [ "$timed_out" = 1 ]; then
		warn "the guest did not finish within ${timeout}s; last serial lines:"
		tail -n 30 "$log" | tr -d '\r' >&2
		echo 124
		return
	fi
	warn "the guest ended without finishing the command (qemu exit $qemu_rc); last serial lines:"
	{ tail -n 40 "$log" | tr -d '\r'; cat "$work/qemu.out"; } >&2
	echo 125
}

cleanup() {
	[ -z "${qemu_pid:-}" ] || kill -KILL "$qemu_pid" 2>/dev/null || true
	if [ "$keep" = 1 ]; then
		echo "nodevm: kept work dir $work" >&2
	else
		rm -rf "${work:?}"
	fi
}

main() {
	parse_args "$@"
	local kdir ver
	kdir=$(readlink -f "$cache/current" 2>/dev/null) || true
	if [ -z "$kdir" ] || [ ! -f "$kdir/.done" ] || [ ! -x "$cache/bin/vmexit" ] ||
		[ -n "$(find "$here/vmexit" -newer "$cache/bin/vmexit" -type f 2>/dev/null)" ]; then
		echo "nodevm: running hack/nodevm/setup.sh" >&2
		"$here/setup.sh" >&2 || die "hack/nodevm/setup.sh failed"
		kdir=$(readlink -f "$cache/current")
	fi
	ver=$(basename "$kdir")
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run hack/nodevm/setup.sh"
	[ -x /bin/busybox ] || die "/bin/busybox missing: run hack/nodevm/setup.sh"

	work=$(mktemp -d "${KL_NODEVM_TMP:-${TMPDIR:-/tmp}}/nodevm.XXXXXX")
	qemu_pid=
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	root=$work/root log=$work/serial.log
	nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	if [ -z "$out" ]; then
		out=$(mktemp -d "${TMPDIR:-/tmp}/nodevm-out.XXXXXX")
		echo "nodevm: results in $out" >&2
	fi
	mkdir -p "$out"
	out=$(cd "$out" && pwd)

	start=$(now)
	build_initramfs "$kdir" "$ver"
	local built
	built=$(now)
	shown=0 begin_at=
	start_qemu "$kdir" "$ver"
	wait_qemu
	local ended rc
	ended=$(now)
	collect_results
	rc=$(exit_code)
	echo "nodevm: initramfs $(secs "$start" "$built")s ($(du -m "$work/initrd.cpio" | cut -f1) MiB)," \
		"boot $(secs "$built" "${begin_at:-$ended}")s, command+shutdown $(secs "${begin_at:-$ended}" "$ended")s," \
		"total $(secs "$start" "$ended")s, exit $rc" >&2
	[ ! -f "$out/.nodevm/timing" ] || echo "nodevm: guest uptime at: $(cat "$out/.nodevm/timing")" >&2
	exit "$rc"
}

main "$@"
