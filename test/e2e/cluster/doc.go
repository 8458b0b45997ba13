// Package cluster gives e2e tests a real local control plane: Start runs
// hack/cluster/up.sh --no-agent (upstream etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on 127.0.0.1, Node,RBAC
// authorization, NodeRestriction) in a directory of its own, returns the
// paths a test needs, makes node credentials on demand, and stops the cluster
// with hack/cluster/down.sh when the test ends. Importing the package runs
// nothing. The first Start on a machine builds the control plane (several
// minutes; cached in $KL_CACHE/cluster).
package cluster
