#!/usr/bin/env bash
# build.sh builds the static kubelet-lite binary into bin/. cgo is on for
# libcontainer's nsenter and for its seccomp filters (build tag seccomp,
# libseccomp.a from libseccomp-dev, see hack/deps.sh); the binary is linked
# statically so that it runs as PID 1 inside any image and in the node VM,
# which needs no libseccomp of its own.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$repo"
mkdir -p "$bin"
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
# The containers' PID 1 first: a small static binary the agent embeds.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o cmd/kubelet-lite/kubelet-lite-init ./cmd/kubelet-lite-init
CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,embedinit,seccomp \
	-ldflags "-s -w -extldflags -static -X github.com/kubelet-lite/kubelet-lite/pkg/version.Version=$version" \
	-o "$bin/kubelet-lite" ./cmd/kubelet-lite
echo "built $bin/kubelet-lite ($(du -h "$bin/kubelet-lite" | cut -f1), with its $(du -h cmd/kubelet-lite/kubelet-lite-init | cut -f1) PID 1 embedded)"
