#!/usr/bin/env bash
# build.sh OUTDIR builds kubelet-lite's test images as docker-save tarballs:
#   OUTDIR/busybox.tar     kubelet-lite.local/busybox:v1     (Debian's busybox-static)
#   OUTDIR/httpserver.tar  kubelet-lite.local/httpserver:v1  (test/images/httpserver)
#   OUTDIR/sectest.tar     kubelet-lite.local/sectest:v1     (busybox plus test/images/sectest,
#                          also as a setuid-root copy, and user app in group staff)
# Only the busybox-static .deb is downloaded (apt-get download, cached in
# $KL_CACHE/debs; nothing is installed). The images are reproducible, so
# running it again gives the same files.
set -euo pipefail
out=${1:?usage: hack/images/build.sh OUTDIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KL_CACHE:-/var/cache/kubelet-lite}
export PATH=$PATH:/usr/local/go/bin
mkdir -p "$out" "$cache/debs"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$repo"
go build -o "$work/mkimage" ./hack/images/mkimage

# busybox: the static binary, its applet links, users and a sticky /tmp.
deb=$(ls "$cache"/debs/busybox-static_*.deb 2>/dev/null | sort | tail -n1 || true)
if [ -z "$deb" ]; then
	(cd "$cache/debs" && { apt-get download -qq busybox-static 2>/dev/null ||
		{ apt-get update -qq && apt-get download -qq busybox-static; }; })
	deb=$(ls "$cache"/debs/busybox-static_*.deb | sort | tail -n1)
fi
dpkg -x "$deb" "$work/deb"
rootfs=$work/busybox
mkdir -p "$rootfs"/{bin,etc,root,home/app,tmp,proc,sys,dev,var}
cp "$work/deb/bin/busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list-full); do
	[ "$applet" = bin/busybox ] && continue
	mkdir -p "$rootfs/$(dirname "$applet")"
	ln -sfn /bin/busybox "$rootfs/$applet"
done
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
app:x:1000:
nogroup:x:65534:
GROUP
chmod 0755 "$rootfs" "$rootfs"/{bin,etc,home,home/app,proc,sys,dev,var} && chmod 0700 "$rootfs/root"
chmod 0644 "$rootfs"/etc/{passwd,group}
chmod 1777 "$rootfs/tmp"
"$work/mkimage" --rootfs "$rootfs" --ref kubelet-lite.local/busybox:v1 --out "$out/busybox.tar" \
	--cmd '["sh"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--owner home/app=1000:1000

# sectest: the busybox tree plus the security test helper, once plain and
# once setuid root, and app (1000) a member of staff (50) in /etc/group.
rootfs=$work/sectest
cp -a "$work/busybox" "$rootfs"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$rootfs/bin/sectest" ./test/images/sectest
cp "$rootfs/bin/sectest" "$rootfs/bin/sectest-suid"
chmod 0755 "$rootfs/bin/sectest" && chmod 4755 "$rootfs/bin/sectest-suid"
printf 'staff:x:50:app\n' >>"$rootfs/etc/group"
"$work/mkimage" --rootfs "$rootfs" --ref kubelet-lite.local/sectest:v1 --out "$out/sectest.tar" \
	--cmd '["sh"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--owner home/app=1000:1000

# httpserver: one static Go binary.
rootfs=$work/httpserver
mkdir -p "$rootfs"/{etc,tmp}
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$rootfs/httpserver" ./test/images/httpserver
printf 'root:x:0:0:root:/:/httpserver\nnobody:x:65534:65534:nobody:/:/httpserver\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
chmod 0755 "$rootfs" "$rootfs/etc" "$rootfs/httpserver" && chmod 0644 "$rootfs"/etc/{passwd,group}
chmod 1777 "$rootfs/tmp"
"$work/mkimage" --rootfs "$rootfs" --ref kubelet-lite.local/httpserver:v1 --out "$out/httpserver.tar" \
	--entrypoint '["/httpserver"]' --env PATH=/ --env PORT=8080
