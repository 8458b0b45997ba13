#!/usr/bin/env bash
# proxy-vmtest.sh runs pkg/proxy's tests, the real-kernel ones included (build tag integration),
# in the node VM, which has IPVS (this build machine has none).
#
# Usage: hack/proxy-vmtest.sh [TESTFLAGS...]
#   hack/proxy-vmtest.sh -test.run 'TestKernel'
#   KL_PROXY_SCALE=5000 hack/proxy-vmtest.sh -test.run TestKernelSyncScale
# Environment: KL_PROXY_VM_TIMEOUT (seconds, default 1200), KL_PROXY_VM_OUT (result dir),
# KL_PROXY_SCALE (Services in TestKernelSyncScale, default 1000).
# Exits with the test binary's exit code (124 timeout, 125 VM failure).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
args="--timeout ${KL_PROXY_VM_TIMEOUT:-1200}"
[ -z "${KL_PROXY_VM_OUT:-}" ] || args+=" --out $KL_PROXY_VM_OUT"
[ -z "${KL_PROXY_SCALE:-}" ] || args+=" --env KL_PROXY_SCALE=$KL_PROXY_SCALE"
KL_NODEVM_TAGS="vm integration" KL_NODEVM_RUN_ARGS="$args" \
	exec "$here/nodevm/gotest.sh" ./pkg/proxy -test.v -test.count=1 -test.timeout=18m "$@"
