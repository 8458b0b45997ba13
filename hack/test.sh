#!/usr/bin/env bash
# test.sh runs every test level of kubelet-lite, in order, and stops at the
# first failure:
#   1. unit tests (go vet, go test, a short fuzz run of the translator);
#   2. host integration (root, real namespaces, libcontainer, cgroup v1 here);
#   3. host e2e: the built binary runs static pods on this machine;
#   4. run: the README's `make run`, stopped after the example pods ran;
#   5. node VM: the same e2e tests on cgroup v2 inside qemu.
# KL_TEST_LEVELS="unit integration e2e run vm" picks levels (default: all).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$repo"
levels=${KL_TEST_LEVELS:-unit integration e2e run vm}
has() { [[ " $levels " == *" $1 "* ]]; }
started=$(date +%s)
stamp() { echo "-- $1 took $(( $(date +%s) - $2 ))s"; }

log deps
hack/deps.sh

if has unit; then
	log "unit tests"; t=$(date +%s)
	go vet ./...
	go vet -tags integration,e2e ./...
	go vet -tags vm,integration ./...
	go test -count=1 ./...
	go test -run '^$' -fuzz '^FuzzPod$' -fuzztime "${KL_FUZZTIME:-60s}" ./pkg/translate
	stamp unit "$t"
fi

if has integration || has e2e || has run || has vm; then
	log build; t=$(date +%s)
	hack/build.sh
	hack/images/build.sh "$KL_CACHE/images"
	hack/cni.sh
	stamp build "$t"
fi
export KL_BINARY=$bin/kubelet-lite KL_IMAGES=$KL_CACHE/images KL_CNI_BIN=$KL_CACHE/cni/bin

if has integration; then
	log "host integration tests"; t=$(date +%s)
	go test -count=1 -p 1 -timeout 20m -tags integration ./pkg/...
	stamp integration "$t"
fi

if has e2e; then
	log "host e2e tests"; t=$(date +%s)
	# test/e2e runs the binary, standalone and (TestCluster*) as the node of
	# a real control plane built once into $KL_CACHE by hack/cluster; the
	# cluster tests each start their own and run three at a time. The other
	# packages test themselves against the real control plane. TestVM...
	# tests need the node VM (a pod network on a bridge is never made in this
	# host's root network namespace); the vm level runs them.
	# They run in a network namespace of their own (hack/e2e-netns.sh), whose
	# node address the apiserver's node proxy accepts; nothing they start
	# can reach out of it.
	hack/e2e-netns.sh go test -count=1 -p 1 -parallel 3 -timeout 40m -tags e2e ./test/e2e/... ./pkg/node ./pkg/status -skip '^TestVM'
	stamp e2e "$t"
fi

if has run; then
	log "the README's run command (make run, stopped after a while)"; t=$(date +%s)
	tmp=$(mktemp -d)
	KL_RUN_FOR=90 KL_RUN_ROOT=$tmp/root KL_RUN_LOGS=$tmp/logs make run
	rm -rf "$tmp"
	stamp run "$t"
fi

if has vm; then
	log "node VM e2e tests (cgroup v2)"; t=$(date +%s)
	hack/nodevm/setup.sh
	# The pod network tests need the CNI plugins and the nft command (with
	# its libraries) in the guest.
	cni_bin=$(hack/cni.sh --print-bin)
	nft=$(command -v nft) || { echo "nft is missing: run hack/deps.sh" >&2; exit 1; }
	CGO_ENABLED=0 go test -c -tags e2e -o "$bin/e2e.test" ./test/e2e
	# Packages whose kernel tests need the guest (cgroup v2, IPVS; build tags
	# vm and integration) run first, in the same guest.
	vm_pkgs=(./pkg/stats ./pkg/proxy)
	vm_adds=() vm_cmds=()
	for p in "${vm_pkgs[@]}"; do
		name=$(basename "$p").test rel=${p#./}
		CGO_ENABLED=0 go test -c -tags vm,integration -o "$bin/$name" "$p"
		vm_adds+=(--add "$bin/$name")
		# Like go test, from the package's dir, with its testdata.
		[ ! -d "$rel/testdata" ] || vm_adds+=(--add "$rel/testdata:/src/$rel/testdata")
		vm_cmds+=("(mkdir -p /src/$rel && cd /src/$rel && /usr/local/bin/$name -test.v -test.timeout 10m)")
	done
	# The cluster tests start the control plane on the host and run there;
	# the node VM repeats the node's own tests on cgroup v2.
	vm_elsewhere='^TestCluster'
	guest_cmd=""
	for c in "${vm_cmds[@]}"; do guest_cmd+="$c && "; done
	guest_cmd+="/usr/local/bin/e2e.test -test.v -test.timeout 20m -test.run '${KL_VM_TESTS:-.}' -test.skip '$vm_elsewhere'"
	vm() {
		hack/nodevm/run.sh --timeout "${KL_VM_TIMEOUT:-1500}" --mem 2048 \
			--add "$bin/kubelet-lite" --add "$bin/e2e.test" --add "$KL_IMAGES/busybox.tar:/images/busybox.tar" --add "$KL_IMAGES/sectest.tar:/images/sectest.tar" "${vm_adds[@]}" \
			--add "$cni_bin:/opt/cni/bin" --add-bin "$nft" \
			--env KL_BINARY=/usr/local/bin/kubelet-lite --env KL_IMAGES=/images --env KL_CNI_BIN=/opt/cni/bin \
			-- sh -c "$guest_cmd"
	}
	# 125 means the guest kernel died before the tests ran (under heavy host
	# load TCG can miss the kernel's early timer checks): boot once more. A
	# test failure is any other non-zero code and is never retried.
	rc=0; vm || rc=$?
	if [ $rc = 125 ]; then
		echo "node VM did not boot (exit 125); booting it once more"
		rc=0; vm || rc=$?
	fi
	[ $rc = 0 ] || exit $rc
	stamp vm "$t"
fi
echo "all requested test levels passed in $(( $(date +%s) - started ))s"
