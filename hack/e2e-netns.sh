#!/usr/bin/env bash
# e2e-netns.sh runs a command (the e2e tests) in a new network namespace of its own, with loopback
# up and the node address 198.51.100.2/32 (TEST-NET-2, exported as KL_E2E_NODE_IP) on a bridge with
# no ports (this host's kernel has no dummy link type).
# The apiserver's node proxy (`kubectl get --raw /api/v1/nodes/N/proxy/...`) refuses loopback node
# addresses, so a node that it must reach needs a routable address; such an address is only ever
# made here, never in the host's root network namespace. Everything the tests start (the control
# plane, agents, qemu's user-mode network of the node VM) runs inside, and no traffic leaves it.
#
# Usage: hack/e2e-netns.sh COMMAND [ARGS...]   (as root)
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
export KL_E2E_NODE_IP=198.51.100.2
exec unshare --net -- bash -c '
set -e
ip link set lo up
ip link add kl-e2e0 type bridge
ip addr add "$KL_E2E_NODE_IP/32" dev kl-e2e0
ip link set kl-e2e0 up
exec "$@"' e2e-netns "$@"
