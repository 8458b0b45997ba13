#!/usr/bin/env bash
# proxy-bench.sh measures the IPVS proxy in the node VM (run by hand; not part of CI): for each
# size it programs that many ClusterIP Services with 3 endpoints each through pkg/proxy's Proxier
# (fed by a fake clientset) into the guest kernel's IPVS, the kube-ipvs0 dummy device and the
# nftables masquerade, then prints one table row: the first full sync, a full resync with nothing
# to change, EndpointSlice change → real servers in the kernel, and TCP connect times to the first
# and the last Service's VIP (3 backends listening in network namespaces on veths).
# It runs BenchmarkKernelProxier (pkg/proxy/bench_integration_test.go, build tags vm integration).
#
# Usage: hack/proxy-bench.sh [TESTFLAGS...]
#   hack/proxy-bench.sh
#   KL_PROXY_BENCH_SIZES=1000 hack/proxy-bench.sh
# Environment: KL_PROXY_BENCH_SIZES (comma-separated, default 1000,5000,10000),
# KL_PROXY_BENCH_TIMEOUT (seconds, default 3600), KL_PROXY_BENCH_MEM (guest MB, default 4096),
# KL_PROXY_BENCH_OUT (result dir for run.sh --out).
# Exits with the benchmark binary's exit code (124 timeout, 125 VM failure).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
timeout=${KL_PROXY_BENCH_TIMEOUT:-3600}
args="--timeout $timeout --mem ${KL_PROXY_BENCH_MEM:-4096}"
[ -z "${KL_PROXY_BENCH_OUT:-}" ] || args+=" --out $KL_PROXY_BENCH_OUT"
[ -z "${KL_PROXY_BENCH_SIZES:-}" ] || args+=" --env KL_PROXY_BENCH_SIZES=$KL_PROXY_BENCH_SIZES"
KL_NODEVM_TAGS="vm integration" KL_NODEVM_RUN_ARGS="$args" \
	exec "$here/nodevm/gotest.sh" ./pkg/proxy -test.run '^$' -test.bench '^BenchmarkKernelProxier$' \
	-test.benchtime 1x -test.timeout "$((timeout - 60))s" "$@"
