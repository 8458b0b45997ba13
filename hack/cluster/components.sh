# The control-plane components and the agent, as up.sh starts them. Sourced by up.sh, which sets
# dir, node, the *_port variables, server, apiserver_args and controller_manager_args (extra
# arguments of those two), and defines start and wait_until.

# curl_ok URL [CURL ARGS...] succeeds when URL answers 200 with body "ok" (or etcd's health JSON).
curl_ok() {
	local url=$1 body
	shift
	body=$(curl -sS --max-time 5 --fail "$@" "$url") || return 1
	[ "$body" = ok ] || grep -q '"health":"true"' <<<"$body"
}

start_etcd() {
	mkdir -p -m 700 "$dir/etcd"
	# --unsafe-no-fsync: a throwaway local cluster on a shared disk; fsync latency would dominate.
	start etcd "$cluster_bin/etcd" --name default --data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster "default=http://127.0.0.1:$etcd_peer_port" \
		--unsafe-no-fsync --log-level warn
	wait_until etcd 60 curl_ok "http://127.0.0.1:$etcd_port/health"
}

start_apiserver() {
	local pki=$dir/pki
	start apiserver "$cluster_bin/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --secure-port "$api_port" \
		--advertise-address 127.0.0.1 --endpoint-reconciler-type=none \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--service-cluster-ip-range 10.96.0.0/12 --allow-privileged=true \
		--client-ca-file "$pki/ca.crt" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$pki/ca.crt" \
		--kubelet-preferred-address-types InternalIP,Hostname \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--cert-dir "$dir/apiserver-certs" --profiling=false -v 1 ${apiserver_args[@]+"${apiserver_args[@]}"}
	wait_until apiserver 180 curl_ok "https://127.0.0.1:$api_port/readyz" \
		--cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key"
}

# start_controllers starts the controller-manager and the scheduler, each serving /healthz on a
# loopback secure port (self-signed, written to DIR/NAME-certs) with delegated authn/authz.
start_controllers() {
	local pki=$dir/pki kc
	kc=$dir/controller-manager.kubeconfig
	start controller-manager "$cluster_bin/kube-controller-manager" \
		--kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
		--bind-address 127.0.0.1 --secure-port "$cm_port" --cert-dir "$dir/controller-manager-certs" \
		--allocate-node-cidrs --cluster-cidr 10.244.0.0/16 --service-cluster-ip-range 10.96.0.0/12 \
		--use-service-account-credentials --root-ca-file "$pki/ca.crt" \
		--service-account-private-key-file "$pki/sa.key" \
		--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
		--cluster-name kubelet-lite --profiling=false -v 1 ${controller_manager_args[@]+"${controller_manager_args[@]}"}
	kc=$dir/scheduler.kubeconfig
	start scheduler "$cluster_bin/kube-scheduler" \
		--kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
		--bind-address 127.0.0.1 --secure-port "$sched_port" --cert-dir "$dir/scheduler-certs" \
		--profiling=false -v 1
	wait_until controller-manager 120 curl_ok "https://127.0.0.1:$cm_port/healthz" -k
	wait_until scheduler 120 curl_ok "https://127.0.0.1:$sched_port/healthz" -k
}

# agent_build builds the agent binary and the small test images (into $KL_CACHE/images).
agent_build() {
	"$repo/hack/deps.sh"
	"$repo/hack/build.sh"
	"$repo/hack/images/build.sh" "$KL_CACHE/images"
}

# start_agent_native runs kubelet-lite on this host as the node. The flags --kubeconfig,
# --tls-cert-file, --tls-private-key-file, --client-ca-file, --node-ip and --address are the
# contract of issue 3 (a cluster node); --node-ip/--address (up.sh's --node-address, 127.0.0.1 by
# default) keep the kubelet API and the address the apiserver dials on loopback.
start_agent_native() {
	local pki=$dir/pki n=$dir/node img cgroot=/
	agent_build
	if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
		# --agent native on a cgroup v1/hybrid host: nest below this shell's own cgroup.
		cgroot=$(own_cgroup)/kubelet-lite-$node
		cgroot=${cgroot//\/\//\/}
	fi
	"$dir/bin/pki" --dir "$dir" --server "$server" --node "$node" --node-ip "$node_address"
	mkdir -p "$n/root" "$n/logs" "$n/manifests"
	for img in "$KL_CACHE"/images/*.tar; do
		"$bin/kubelet-lite" images --root-dir "$n/root" import "$img" >/dev/null
	done
	start agent "$bin/kubelet-lite" run --kubeconfig "$dir/node-$node.kubeconfig" \
		--hostname-override "$node" --node-ip "$node_address" --address "$node_address" \
		--port "$kubelet_port" --healthz-address "127.0.0.1:$healthz_port" \
		--root-dir "$n/root" --log-dir "$n/logs" --pod-manifest-path "$n/manifests" \
		--tls-cert-file "$pki/kubelet-$node.crt" --tls-private-key-file "$pki/kubelet-$node.key" \
		--client-ca-file "$pki/ca.crt" --cgroup-root "$cgroot" -v 1
	echo "CGROUP_ROOT=$cgroot" >>"$dir/env"
	wait_node
}

# bind_node_proxier lets the nodes read what the service proxy in kubelet-lite (--proxy-mode ipvs)
# serves: the Node authorizer and system:nodes give a node Services but not EndpointSlices, so the
# group system:nodes gets upstream's system:node-proxier ClusterRole (list/watch Services,
# EndpointSlices, Nodes), the role kube-proxy's own account has in a kubeadm cluster.
bind_node_proxier() {
	"$cluster_bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" create clusterrolebinding kubelet-lite:node-proxier \
		--clusterrole system:node-proxier --group system:nodes --dry-run=client -o yaml |
		"$cluster_bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" apply -f - >/dev/null
}

# start_agent_vm runs kubelet-lite as the node inside the node VM. The guest reaches the apiserver
# at 10.0.2.100:API_PORT (guestfwd: one `busybox nc` to host loopback per connection) and its kubelet
# API is forwarded from host NODE_ADDRESS:KUBELET_PORT (up.sh's --node-address, 127.0.0.1 by default)
# to the same port in the guest; the node reports NODE_ADDRESS as its address, so that the apiserver
# dials only that forward. The node's files go to the guest's /etc/kubelet-lite, the test
# images to /opt/kubelet-lite/images (imported before the agent starts).
start_agent_vm() {
	local vm=$dir/node/vm pki=$dir/pki
	agent_build
	rm -rf "$vm"
	mkdir -p "$vm/manifests" "$dir/node/out"
	"$dir/bin/pki" --dir "$dir" --server "$server" --node "$node" \
		--node-server "https://10.0.2.100:$api_port" --node-kubeconfig "$vm/node.kubeconfig" --node-ip "$node_address"
	cp "$pki/ca.crt" "$vm/ca.crt"
	cp "$pki/kubelet-$node.crt" "$vm/kubelet.crt"
	cp "$pki/kubelet-$node.key" "$vm/kubelet.key"
	# Pods get IPs on the guest's bridge from the node's spec.podCIDR (the CNI plugins and nft are
	# put into the guest); no cluster DNS runs yet, so --cluster-dns stays empty. The guest is the
	# node's own machine, so the service proxy runs there (IPVS, kube-ipvs0, nftables masquerade for
	# Service traffic from outside the controller-manager's --cluster-cidr).
	local cni_bin nft
	cni_bin=$("$repo/hack/cni.sh" --print-bin)
	nft=$(command -v nft) || die "nft is missing: run hack/deps.sh"
	local guest_cmd='set -e
for i in /opt/kubelet-lite/images/*.tar; do kubelet-lite images import "$i" >/dev/null; done
exec kubelet-lite run --kubeconfig /etc/kubelet-lite/node.kubeconfig --hostname-override "$NODE" \
	--node-ip "$NODE_ADDRESS" --port "$KUBELET_PORT" --pod-manifest-path /etc/kubelet-lite/manifests \
	--tls-cert-file /etc/kubelet-lite/kubelet.crt --tls-private-key-file /etc/kubelet-lite/kubelet.key \
	--client-ca-file /etc/kubelet-lite/ca.crt --cgroup-root / \
	--network-plugin cni --cni-bin-dir /opt/cni/bin \
	--proxy-mode ipvs --cluster-cidr 10.244.0.0/16 -v 1 --vmodule proxier=2'
	start agent "$repo/hack/nodevm/run.sh" --timeout $((7 * 24 * 3600)) --out "$dir/node/out" \
		--add "$bin/kubelet-lite" --add "$vm:/etc/kubelet-lite" --add "$KL_CACHE/images:/opt/kubelet-lite/images" \
		--add "$cni_bin:/opt/cni/bin" --add-bin "$nft" \
		--netdev-opt "guestfwd=tcp:10.0.2.100:$api_port-cmd:busybox nc 127.0.0.1 $api_port" \
		--netdev-opt "hostfwd=tcp:$node_address:$kubelet_port-:$kubelet_port" \
		--env "NODE=$node" --env "KUBELET_PORT=$kubelet_port" --env "NODE_ADDRESS=$node_address" -- sh -c "$guest_cmd"
	wait_node
}

# node_ready succeeds when the node's Ready condition is True.
node_ready() {
	[ "$("$cluster_bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" get node "$node" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

wait_node() {
	wait_until agent 180 node_ready
	echo "node $node Ready ($agent agent)"
}
