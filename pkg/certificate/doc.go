// Package certificate gets and renews the node's certificates from the
// cluster through CertificateSigningRequests, as upstream's kubelet does:
// the first client certificate with a bootstrap token (Bootstrap), its
// renewal before it expires (NewClientManager, RotatingConfig), and the
// kubelet API's serving certificate (NewServingManager). The key pairs live
// in a client-go file store in the certificate directory.
package certificate
