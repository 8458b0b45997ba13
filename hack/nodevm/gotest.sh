#!/usr/bin/env bash
# gotest.sh runs one Go package's tests inside the node VM.
#
# Usage: hack/nodevm/gotest.sh PKG [TESTFLAGS...]
#   e.g. hack/nodevm/gotest.sh ./pkg/cgroup -test.v -test.run TestV2
# It builds a static test binary (`go test -c`, build tags from KL_NODEVM_TAGS, default "vm"),
# copies the package's testdata/ (if any) next to it, and runs it in the guest from
# /src/<PKG> like `go test` would (cwd = package dir). Test flags use the binary's -test.* spelling.
# Extra run.sh options go in KL_NODEVM_RUN_ARGS (split on spaces), e.g.
#   KL_NODEVM_RUN_ARGS="--timeout 900 --out /tmp/vm-out" hack/nodevm/gotest.sh ./pkg/proxy
# Exits with the test binary's exit code (124 timeout, 125 VM failure, see run.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
pkg=$1
shift
rel=${pkg#./}
[ -d "$repo/$rel" ] || { echo "gotest: no package dir $repo/$rel" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/nodevm-gotest.XXXXXX")
trap 'rm -rf "$work"' EXIT
name=$(basename "$rel").test
(cd "$repo" && CGO_ENABLED=0 go test -c -tags "${KL_NODEVM_TAGS:-vm}" -o "$work/$name" "./$rel")
[ -f "$work/$name" ] || { echo "gotest: $pkg has no test files" >&2; exit 2; }

adds=(--add "$work/$name:/usr/local/bin/$name")
[ ! -d "$repo/$rel/testdata" ] || adds+=(--add "$repo/$rel/testdata:/src/$rel/testdata")
read -r -a run_args <<<"${KL_NODEVM_RUN_ARGS:-}"
exec "$here/run.sh" "${adds[@]}" "${run_args[@]}" -- \
	sh -c 'mkdir -p "$1" && cd "$1" && shift && exec "$@"' sh "/src/$rel" "/usr/local/bin/$name" "$@"
