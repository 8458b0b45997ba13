#!/usr/bin/env bash
# selftest.sh checks the node VM end to end: it runs hack/nodevm/run.sh three times and asserts on
# exit codes and output.
#   1. the feature run: cgroup2 controllers, ip_vs, overlayfs, environment, /out, and the static Go
#      binary hack/nodevm/selftest (child cgroup cpu.max etc., pivot_root in a new mount namespace);
#   2. an exit-code run: the guest command's status 7 must come out of run.sh;
#   3. a timeout run: a command that sleeps longer than --timeout must end with 124, quickly.
# It prints the measured times. Run hack/nodevm/setup.sh first (it calls it when needed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/nodevm-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

fails=0
pass() { echo "selftest: ok   $*"; }
fail() { echo "selftest: FAIL $*"; fails=$((fails + 1)); }
# expect_line NAME FILE REGEX: FILE must have a line matching REGEX.
expect_line() { if grep -qE -- "$3" "$2"; then pass "$1"; else fail "$1 (no line matching /$3/ in $2)"; fi; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

"$here/setup.sh" >/dev/null

echo "selftest: building hack/nodevm/selftest (static)"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$work/nodevm-selftest" ./hack/nodevm/selftest)

cat >"$work/guest-check.sh" <<'EOF'
#!/bin/sh
# Runs inside the node VM.
rc=0
check() { # check NAME COMMAND...
	name=$1; shift
	if "$@"; then echo "guest ok $name"; else echo "guest FAIL $name"; rc=1; fi
}
for c in cpu memory pids io cpuset; do
	check "controller $c" grep -qw "$c" /sys/fs/cgroup/cgroup.controllers
done
check "ip_vs loaded" sh -c 'modprobe ip_vs && test -e /proc/net/ip_vs'
check "ip_vs_rr loaded" grep -q '^ip_vs_rr ' /proc/modules
check "br_netfilter sysctl" test -e /proc/sys/net/bridge/bridge-nf-call-iptables
overlay() {
	d=/tmp/ovl && mkdir -p $d/lower $d/upper $d/work $d/merged &&
		echo lower >$d/lower/a &&
		mount -t overlay overlay -o lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work $d/merged &&
		[ "$(cat $d/merged/a)" = lower ] && echo upper >$d/merged/b && [ -f $d/upper/b ] &&
		umount $d/merged
}
check "overlay mount in /tmp" overlay
# pivot_root needs a root mount with a parent; the initial rootfs is its own parent.
check "root mount has a parent" awk '$5 == "/" { found = 1; if ($1 == $2) exit 1 } END { exit !found }' /proc/self/mountinfo
check "KL_NODEVM=1" test "$KL_NODEVM" = 1
check "--env with spaces" test "$SELFTEST_VALUE" = "a b 'c'"
check "--env on the cmdline" grep -qw SELFTEST_WORD=plain /proc/cmdline
check "smp 2" test "$(nproc)" = 2
echo "guest uptime at check $(cut -d' ' -f1 /proc/uptime)"
/usr/local/bin/nodevm-selftest || rc=1
echo "result from the guest" >/out/result.txt
mkdir -p /out/sub && echo nested >/out/sub/file
exit $rc
EOF
chmod +x "$work/guest-check.sh"

echo "selftest: run 1 (features)"
t0=$(now)
set +e
"$here/run.sh" --out "$work/out1" --timeout 300 \
	--add "$work/nodevm-selftest" --add "$work/guest-check.sh:/usr/local/bin/" \
	--env "SELFTEST_VALUE=a b 'c'" --env SELFTEST_WORD=plain \
	-- /usr/local/bin/guest-check.sh >"$work/run1.out" 2>"$work/run1.err"
rc=$?
set -e
t1=$(now)
sed 's/^/  | /' "$work/run1.out"
sed 's/^/  ! /' "$work/run1.err"
[ "$rc" = 0 ] && pass "run 1 exit code 0" || fail "run 1 exit code $rc, want 0"
for l in "guest ok controller cpu" "guest ok controller memory" "guest ok controller pids" \
	"guest ok controller io" "guest ok controller cpuset" "guest ok ip_vs loaded" "guest ok overlay mount in /tmp" \
	"guest ok root mount has a parent" "guest ok KL_NODEVM=1" "guest ok --env with spaces" "guest ok --env on the cmdline" \
	"^ok child cgroup limits: cpu.max=50000 100000" "^ok pivot_root in a new mount namespace" \
	"^nodevm-selftest: PASS$"; do
	expect_line "output has '$l'" "$work/run1.out" "$l"
done
if grep -q FAIL "$work/run1.out"; then fail "run 1 output has FAIL lines"; else pass "run 1 output has no FAIL lines"; fi
[ "$(cat "$work/out1/result.txt" 2>/dev/null)" = "result from the guest" ] && pass "/out/result.txt came back" || fail "/out/result.txt missing or wrong"
[ "$(cat "$work/out1/sub/file" 2>/dev/null)" = nested ] && pass "/out/sub/file came back" || fail "/out/sub/file missing or wrong"
[ "$(cat "$work/out1/.nodevm/exit-code" 2>/dev/null)" = 0 ] && pass ".nodevm/exit-code is 0" || fail ".nodevm/exit-code missing or not 0"
expect_line "dmesg saved" "$work/out1/.nodevm/dmesg.txt" "IPVS"
boot_guest=$(sed -n 's/^===NODEVM-BEGIN [0-9a-f]* uptime=\([0-9.]*\)===.*/\1/p' "$work/out1/.nodevm/serial.log")
times=$(grep '^nodevm: initramfs' "$work/run1.err" || true)

echo "selftest: run 2 (exit code)"
set +e
"$here/run.sh" --out "$work/out2" --timeout 120 -- sh -c 'echo about to exit 7; exit 7' >"$work/run2.out" 2>"$work/run2.err"
rc=$?
set -e
[ "$rc" = 7 ] && pass "run 2 exit code 7" || { fail "run 2 exit code $rc, want 7"; cat "$work/run2.err"; }
expect_line "run 2 output" "$work/run2.out" "^about to exit 7$"

echo "selftest: run 3 (timeout)"
t2=$(now)
set +e
"$here/run.sh" --out "$work/out3" --timeout 40 -- sh -c 'echo sleeping; echo saved >/out/early; sleep 1000' >"$work/run3.out" 2>"$work/run3.err"
rc=$?
set -e
t3=$(now)
[ "$rc" = 124 ] && pass "run 3 exit code 124" || { fail "run 3 exit code $rc, want 124"; cat "$work/run3.err"; }
awk -v a="$t2" -v b="$t3" 'BEGIN { exit !(b - a < 50) }' && pass "run 3 ended within 50s" || fail "run 3 took $(secs "$t2" "$t3")s"
[ "$(cat "$work/out3/early" 2>/dev/null)" = saved ] && pass "run 3 /out saved despite the timeout" || fail "run 3 /out/early missing (host timeout before the guest's?)"

echo "selftest: times: run 1 $(secs "$t0" "$t1")s total; guest kernel uptime at command start ${boot_guest:-?}s"
echo "selftest: ${times#nodevm: }"
if [ "$fails" -gt 0 ]; then
	echo "selftest: $fails check(s) failed"
	exit 1
fi
echo "selftest: PASS"
