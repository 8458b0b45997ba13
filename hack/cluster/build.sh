#!/usr/bin/env bash
# build.sh builds the pinned upstream control plane from the Go module proxy into
# $KL_CACHE/cluster/bin: etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kubectl.
# The wrapper modules live in $KL_CACHE/cluster/src, never in the repo. Idempotent: a stamp file
# records the versions and the Go toolchain; when it matches, nothing is rebuilt.
#
# Usage: hack/cluster/build.sh [--force] [--measure]
#   --force    rebuild even when the stamp matches
#   --measure  print the wall time and the peak disk used by the build cache, the temporary build
#              dirs and the module cache growth (sampled every 5 s)
#
# Environment: KL_CACHE (default /var/cache/kubelet-lite). The build uses its own GOCACHE
# ($KL_CACHE/cluster/go-build) and GOTMPDIR so that it neither evicts nor pollutes the repo's cache,
# the shared module cache (go env GOMODCACHE), CGO_ENABLED=0 and -trimpath, and ignores GOFLAGS
# from the environment.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

k8s_version=v1.37.2
staging_version=v0.37.2 # k8s.io/* staging modules matching $k8s_version
etcd_version=v3.7.3
k8s_cmds=(kube-apiserver kube-scheduler kube-controller-manager kubectl)

cdir=$KL_CACHE/cluster
out=$cdir/bin
src=$cdir/src
stamp=$out/.stamp

force=0 measure=0
while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1 ;;
	--measure) measure=1 ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

export GOCACHE=$cdir/go-build GOTMPDIR=$cdir/tmp GOFLAGS= CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$out" "$src" "$GOCACHE" "$GOTMPDIR"

want_stamp() {
	printf 'kubernetes=%s etcd=%s %s\n' "$k8s_version" "$etcd_version" "$(go env GOVERSION)"
}

up_to_date() {
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(want_stamp)" ] || return 1
	local b
	for b in etcd "${k8s_cmds[@]}"; do [ -x "$out/$b" ] || return 1; done
}

# One build at a time per cache (parallel test packages may all call up.sh).
exec 9>"$cdir/build.lock"
if ! flock -n 9; then
	echo "waiting for another build.sh to finish ($cdir/build.lock)"
	flock 9
fi
if [ "$force" = 0 ] && up_to_date; then
	echo "control plane up to date in $out ($(cat "$stamp"))"
	exit 0
fi

# staging_modules prints the k8s.io/* modules that k8s.io/kubernetes' go.mod requires at v0.0.0
# (they live in its staging/ tree and are replaced there by local paths, which dependents ignore).
staging_modules() {
	local gomod
	gomod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$k8s_version" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[ -f "$gomod" ] || { echo "build.sh: no go.mod for k8s.io/kubernetes@$k8s_version" >&2; return 1; }
	awk '
		/^require[ \t]*\(/ { inreq = 1; next }
		inreq && /^\)/ { inreq = 0; next }
		inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }
		/^require[ \t]/ && $2 ~ /^k8s\.io\// && $3 == "v0.0.0" { print $2 }
	' "$gomod" | sort -u
}

write_k8s_module() {
	local dir=$src/kubernetes m mods
	mods=$(staging_modules)
	[ -n "$mods" ] || { echo "build.sh: found no v0.0.0 k8s.io modules" >&2; return 1; }
	mkdir -p "$dir"
	{
		echo "module kubelet-lite.local/cluster/kubernetes"
		echo
		echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/').0"
		echo
		echo "require k8s.io/kubernetes $k8s_version"
		echo
		echo "replace ("
		for m in $mods; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
		echo ")"
	} >"$dir/go.mod.new"
	# Keep go.sum and the resolved requirements when go.mod's intent did not change.
	if [ -f "$dir/go.mod.intent" ] && cmp -s "$dir/go.mod.new" "$dir/go.mod.intent"; then
		rm "$dir/go.mod.new"
	else
		cp "$dir/go.mod.new" "$dir/go.mod.intent"
		mv "$dir/go.mod.new" "$dir/go.mod"
		rm -f "$dir/go.sum"
	fi
	echo "$(wc -w <<<"$mods") staging modules replaced at $staging_version"
}

write_etcd_module() {
	local dir=$src/etcd
	mkdir -p "$dir"
	cp "$repo/hack/cluster/wrapper/etcd-main.go.tmpl" "$dir/main.go"
	if [ ! -f "$dir/go.mod" ] || ! grep -q "go.etcd.io/etcd/server/v3 $etcd_version\$" "$dir/go.mod"; then
		rm -f "$dir/go.mod" "$dir/go.sum"
		(cd "$dir" && go mod init kubelet-lite.local/cluster/etcd >/dev/null 2>&1 &&
			go get "go.etcd.io/etcd/server/v3@$etcd_version" && go mod tidy)
	fi
}

k8s_ldflags() {
	local minor=${k8s_version#v1.} p
	minor=${minor%%.*}
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		printf -- "-X '%s.gitVersion=%s' -X '%s.gitMajor=1' -X '%s.gitMinor=%s' -X '%s.gitTreeState=clean' -X '%s.buildDate=%s' " \
			"$p" "$k8s_version" "$p" "$p" "$minor" "$p" "$p" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	done
	echo "-s -w"
}

build_k8s() {
	local pkgs=() c
	for c in "${k8s_cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
	(cd "$src/kubernetes" && go get "${pkgs[@]/%/@$k8s_version}" >/dev/null &&
		go build -mod=mod -trimpath -ldflags "$(k8s_ldflags)" -o "$out/" "${pkgs[@]}")
}

build_etcd() {
	(cd "$src/etcd" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$out/etcd" .)
}

# sample_disk records, every 5 s, the bytes used by this build (its GOCACHE, GOTMPDIR, output and
# the module cache's growth) into $1, one number per line.
sample_disk() {
	local file=$1 modcache base
	modcache=$(go env GOMODCACHE)
	base=$(du -sb "$modcache" 2>/dev/null | cut -f1)
	while :; do
		echo $(($(du -sbc "$GOCACHE" "$GOTMPDIR" "$out" "$src" "$modcache" 2>/dev/null | tail -1 | cut -f1) - base)) >>"$file"
		sleep 5
	done
}

start=$(date +%s)
if [ "$measure" = 1 ]; then
	samples=$(mktemp)
	sample_disk "$samples" &
	sampler=$!
	trap 'kill $sampler 2>/dev/null || true; rm -f "$samples"' EXIT
fi

rm -f "$stamp"
log "kubernetes $k8s_version wrapper module in $src/kubernetes"
write_k8s_module
log "building ${k8s_cmds[*]}"
build_k8s
log "etcd $etcd_version wrapper module in $src/etcd"
write_etcd_module
log "building etcd"
build_etcd
want_stamp >"$stamp"

elapsed=$(($(date +%s) - start))
echo "built control plane in ${elapsed}s into $out:"
ls -l "$out" | awk 'NR > 1 { printf "  %-26s %6.1f MiB\n", $9, $5 / 1048576 }'
if [ "$measure" = 1 ]; then
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	sort -n "$samples" | tail -1 | awk '{ printf "peak disk used by the build: %.2f GiB\n", $1 / 1073741824 }'
	du -sh "$GOCACHE" "$(go env GOMODCACHE)" | sed 's/^/  now: /'
fi
