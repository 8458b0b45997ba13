#!/usr/bin/env bash
# deps.sh installs the Debian packages kubelet-lite's build and tests need,
# once (idempotent): the test images are built from busybox-static, the node
# VM needs qemu, kmod and cpio, the e2e tests nsenter and iproute2, the
# local cluster curl, the CNI plugins (bridge ipMasq, portmap) the nft command,
# and the static build libseccomp-dev (libseccomp.a, linked into the binary
# for libcontainer's seccomp filters).
set -euo pipefail
pkgs=(busybox-static qemu-system-x86 kmod cpio util-linux iproute2 gcc libc6-dev curl nftables libseccomp-dev pkg-config)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
