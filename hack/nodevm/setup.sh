#!/usr/bin/env bash
# setup.sh prepares everything the node VM needs, idempotently:
#   - Debian packages: qemu-system-x86, busybox-static, kmod, cpio (apt-get, only when missing);
#   - the Debian cloud kernel named by `apt-cache depends linux-image-cloud-amd64`, unpacked with
#     `dpkg -x` into $KL_CACHE/nodevm/kernel/<version>/ and indexed with `depmod -b`;
#   - the static guest helper hack/nodevm/vmexit (Go), built into $KL_CACHE/nodevm/bin/.
# It prints the kernel version on its last line ("kernel <version>") and little else when done.
#
# Environment: KL_CACHE (default /var/cache/kubelet-lite).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KL_CACHE:-/var/cache/kubelet-lite}/nodevm

log() { echo "nodevm setup: $*" >&2; }
die() { echo "nodevm setup: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, dpkg -x into $cache)"

# ensure_packages installs the Debian packages whose status is not "install ok installed".
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } ||
		die "apt-get install ${missing[*]} failed"
}

# kernel_package prints the linux-image-<abi>-cloud-amd64 package the meta package depends on.
kernel_package() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }'
}

# ensure_kernel downloads and unpacks the kernel package, runs depmod, and points
# $cache/current at the unpacked version.
ensure_kernel() {
	local pkg ver dir debs
	pkg=$(kernel_package)
	[ -n "$pkg" ] || die "apt-cache depends linux-image-cloud-amd64 names no kernel (run apt-get update?)"
	ver=${pkg#linux-image-}
	dir=$cache/kernel/$ver
	if [ ! -f "$dir/.done" ]; then
		debs=$cache/debs
		mkdir -p "$debs"
		# apt-get download drops privileges to _apt when that user can write the directory.
		chown _apt "$debs" 2>/dev/null || true
		if ! ls "$debs/${pkg}"_*.deb >/dev/null 2>&1; then
			log "downloading $pkg"
			(cd "$debs" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
		fi
		log "unpacking $pkg into $dir"
		rm -rf "$dir"
		mkdir -p "$dir"
		dpkg -x "$(ls "$debs/${pkg}"_*.deb | tail -n 1)" "$dir"
		[ -f "$dir/boot/vmlinuz-$ver" ] || die "no boot/vmlinuz-$ver in $pkg"
		# Debian ships modules below /lib (usrmerge moves them to /usr/lib later); depmod -b wants
		# <base>/lib/modules/<version>.
		[ -d "$dir/lib/modules/$ver" ] || die "no lib/modules/$ver in $pkg"
		depmod -b "$dir" "$ver"
		touch "$dir/.done"
	fi
	ln -sfn "kernel/$ver" "$cache/current.tmp" && mv -T "$cache/current.tmp" "$cache/current"
	echo "$ver"
}

# ensure_vmexit builds the guest's static exit helper when it is missing or older than its source.
ensure_vmexit() {
	local bin=$cache/bin/vmexit
	if [ -x "$bin" ] && [ -z "$(find "$here/vmexit" -newer "$bin" -type f 2>/dev/null)" ]; then
		return 0
	fi
	command -v go >/dev/null || die "go is not installed (needed to build hack/nodevm/vmexit)"
	mkdir -p "$cache/bin"
	log "building vmexit"
	(cd "$here/vmexit" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .) ||
		die "go build hack/nodevm/vmexit failed"
	mv "$bin.tmp" "$bin"
}

main() {
	mkdir -p "$cache"
	ensure_packages qemu-system-x86 busybox-static kmod cpio gzip tar
	local ver
	ver=$(ensure_kernel)
	ensure_vmexit
	echo "kernel $ver"
}

main "$@"
