package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/certificate"
	"github.com/kubelet-lite/kubelet-lite/pkg/config"
)

// clusterREST returns the REST config of the node's clients. With
// --bootstrap-kubeconfig it first gets the node a client certificate (and
// its kubeconfig) unless it has a valid one; with --rotate-certificates the
// config presents the certificate manager's current certificate, which is
// renewed before it expires, until ctx ends.
func clusterREST(ctx context.Context, cfg config.Config) (*rest.Config, error) {
	if cfg.BootstrapKubeconfig != "" {
		err := certificate.Bootstrap(ctx, certificate.BootstrapConfig{
			Kubeconfig: cfg.Kubeconfig, BootstrapKubeconfig: cfg.BootstrapKubeconfig,
			CertDir: cfg.CertificateDir(), NodeName: cfg.NodeName,
		})
		if err != nil {
			return nil, fmt.Errorf("bootstrap client certificate: %w", err)
		}
	}
	if !cfg.RotateCertificates {
		rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		return rc, nil
	}
	m, base, err := certificate.NewClientManager(certificate.ClientConfig{
		Kubeconfig: cfg.Kubeconfig, BootstrapKubeconfig: cfg.BootstrapKubeconfig,
		CertDir: cfg.CertificateDir(), NodeName: cfg.NodeName,
	})
	if err != nil {
		return nil, err
	}
	rc, err := certificate.RotatingConfig(ctx, base, m)
	if err != nil {
		return nil, err
	}
	m.Start()
	context.AfterFunc(ctx, m.Stop)
	klog.InfoS("Client certificate rotation is on", "certDir", cfg.CertificateDir())
	return rc, nil
}

// servingCertificate returns the kubelet API's GetCertificate when
// --rotate-server-certificates asks for a serving certificate from the
// cluster; nil otherwise (the server uses --tls-cert-file or a self-signed
// one).
func servingCertificate(ctx context.Context, cfg config.Config, client kubernetes.Interface, ip net.IP) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	if !cfg.RotateServerCertificates {
		return nil, nil
	}
	m, err := certificate.NewServingManager(certificate.ServingConfig{
		Client: client, CertDir: cfg.CertificateDir(), NodeName: cfg.NodeName,
		Hostnames: []string{cfg.NodeName}, IPs: []net.IP{ip},
	})
	if err != nil {
		return nil, err
	}
	m.Start()
	context.AfterFunc(ctx, m.Stop)
	return certificate.GetCertificate(m), nil
}
