// Command pki makes the local cluster's PKI and kubeconfigs (see package
// certs) for hack/cluster/up.sh:
//
//	pki --dir DIR --server https://127.0.0.1:PORT [--node NAME [--node-server URL] [--node-kubeconfig PATH]]
//
// Files that exist are kept; kubeconfigs are rewritten.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/kubelet-lite/kubelet-lite/hack/cluster/pki/certs"
)

func main() {
	var cfg certs.Config
	var node, nodeServer, nodeKubeconfig, nodeIP string
	flag.StringVar(&cfg.Dir, "dir", "", "cluster dir: kubeconfigs here, certificates in DIR/pki")
	flag.StringVar(&cfg.Server, "server", "", "apiserver URL of the kubeconfigs")
	flag.StringVar(&node, "node", "", "also make this node's certificates and kubeconfig")
	flag.StringVar(&nodeServer, "node-server", "", "apiserver URL of the node's kubeconfig (default --server)")
	flag.StringVar(&nodeKubeconfig, "node-kubeconfig", "", "where the node's kubeconfig goes (default DIR/node-NAME.kubeconfig)")
	flag.StringVar(&nodeIP, "node-ip", "", "an address the node's serving certificate also holds")
	flag.Parse()
	if err := run(cfg, node, nodeServer, nodeKubeconfig, nodeIP); err != nil {
		fmt.Fprintln(os.Stderr, "pki:", err)
		os.Exit(1)
	}
}

func run(cfg certs.Config, node, nodeServer, nodeKubeconfig, nodeIP string) error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if _, err := certs.EnsureControlPlane(cfg); err != nil {
		return err
	}
	if node == "" {
		return nil
	}
	if nodeServer != "" {
		cfg.Server = nodeServer
	}
	var ips []net.IP
	if nodeIP != "" {
		ip := net.ParseIP(nodeIP)
		if ip == nil {
			return fmt.Errorf("--node-ip %q is not an IP address", nodeIP)
		}
		ips = append(ips, ip)
	}
	_, err := certs.EnsureNode(cfg, node, nodeKubeconfig, ips...)
	return err
}
