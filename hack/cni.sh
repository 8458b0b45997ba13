#!/usr/bin/env bash
# cni.sh builds the pinned reference CNI plugins (bridge, host-local, loopback, portmap) from the Go
# module proxy into $KL_CACHE/cni/bin, static, and installs them into a CNI bin dir when asked.
# Idempotent: a stamp records the plugins' version and the Go toolchain; when it matches, nothing is
# rebuilt. The build happens in $KL_CACHE/cni, never in the repo.
#
# Usage: hack/cni.sh [--force] [--install DIR] [--print-bin]
#   --force        rebuild even when the stamp matches
#   --install DIR  also copy the plugins into DIR (for example /opt/cni/bin), when they differ
#   --print-bin    print only the cache's bin dir on stdout (for KL_CNI_BIN=$(hack/cni.sh --print-bin))
#
# Environment: KL_CACHE (default /var/cache/kubelet-lite). The build uses its own GOCACHE
# ($KL_CACHE/cni/go-build), the shared module cache, CGO_ENABLED=0 and -trimpath, and ignores
# GOFLAGS from the environment. At run time the default network's netfilter work (bridge's
# ipMasq, portmap) needs the `nft` command on the node (hack/deps.sh installs nftables).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

plugins_version=v1.10.0
plugins_module=github.com/containernetworking/plugins
plugin_pkgs=(plugins/main/bridge plugins/ipam/host-local plugins/main/loopback plugins/meta/portmap)

cdir=$KL_CACHE/cni
out=$cdir/bin
stamp=$out/.stamp

force=0 install= print_bin=0
while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1 ;;
	--install) install=${2:?--install needs a directory}; shift ;;
	--print-bin) print_bin=1 ;;
	-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "cni.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

# With --print-bin, stdout carries only the directory; progress goes to stderr.
if [ "$print_bin" = 1 ]; then exec 3>&1 1>&2; else exec 3>/dev/null; fi

export GOCACHE=$cdir/go-build GOTMPDIR=$cdir/tmp GOFLAGS= CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$out" "$GOCACHE" "$GOTMPDIR"

want_stamp() {
	printf 'plugins=%s %s\n' "$plugins_version" "$(go env GOVERSION)"
}

up_to_date() {
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(want_stamp)" ] || return 1
	local p
	for p in "${plugin_pkgs[@]}"; do [ -x "$out/${p##*/}" ] || return 1; done
}

build() {
	local pkgs=() p
	for p in "${plugin_pkgs[@]}"; do pkgs+=("$plugins_module/$p@$plugins_version"); done
	# `go install pkg@version` builds in module mode from the proxy with the plugins' own go.mod
	# (it has no replace directives), so no wrapper module is needed. GOBIN puts the binaries in
	# the cache; the ldflag is what upstream's build_linux.sh sets for `plugin --version`.
	GOBIN=$out go install -trimpath \
		-ldflags "-s -w -X $plugins_module/pkg/utils/buildversion.BuildVersion=$plugins_version" \
		"${pkgs[@]}"
}

# One build at a time per cache (parallel test packages may all call this).
exec 9>"$cdir/build.lock"
if ! flock -n 9; then
	echo "waiting for another cni.sh to finish ($cdir/build.lock)"
	flock 9
fi
if [ "$force" = 1 ] || ! up_to_date; then
	rm -f "$stamp"
	start=$(date +%s)
	log "building CNI plugins $plugins_version: ${plugin_pkgs[*]##*/}"
	build
	want_stamp >"$stamp"
	echo "built in $(($(date +%s) - start))s into $out"
else
	echo "CNI plugins up to date in $out ($(cat "$stamp"))"
fi

if [ -n "$install" ]; then
	mkdir -p "$install"
	for p in "${plugin_pkgs[@]}"; do
		b=${p##*/}
		if ! cmp -s "$out/$b" "$install/$b"; then
			# Copy then rename, so that a plugin being exec'd is never half written.
			cp "$out/$b" "$install/.$b.new"
			mv -f "$install/.$b.new" "$install/$b"
			echo "installed $b into $install"
		fi
	done
fi
echo "$out" >&3
