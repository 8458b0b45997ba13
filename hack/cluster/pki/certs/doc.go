// Package certs makes the PKI and kubeconfigs of the local cluster of
// hack/cluster: one CA, the apiserver's serving certificate, the service-account
// key pair, and client certificates with kubeconfigs for the admin, the
// controller-manager, the scheduler and each node, plus each node's kubelet
// serving certificate. Keys are ECDSA P-256. Files that exist are kept, so a
// second run changes nothing and more nodes can be added at any time; the
// kubeconfigs are rewritten because they carry the apiserver's URL.
package certs
