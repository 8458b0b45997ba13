package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// Authority is a CA whose certificate and key live in files.
type Authority struct {
	cert     *x509.Certificate
	key      crypto.Signer
	CertFile string
	KeyFile  string
}

// Usage says what a leaf certificate is for.
type Usage int

const (
	// Client is a TLS client certificate.
	Client Usage = 1 << iota
	// Server is a TLS serving certificate.
	Server
)

// Spec describes one leaf certificate.
type Spec struct {
	CommonName    string
	Organizations []string
	DNSNames      []string
	IPs           []net.IP
	Usage         Usage
}

// Pair names the files of one certificate and its key.
type Pair struct {
	CertFile string
	KeyFile  string
}

// LoadOrCreateAuthority loads the CA in dir (ca.crt, ca.key), making it first
// when neither file exists.
func LoadOrCreateAuthority(dir, name string) (*Authority, error) {
	a := &Authority{CertFile: filepath.Join(dir, "ca.crt"), KeyFile: filepath.Join(dir, "ca.key")}
	_, errCert := os.Stat(a.CertFile)
	_, errKey := os.Stat(a.KeyFile)
	switch {
	case errors.Is(errCert, fs.ErrNotExist) && errors.Is(errKey, fs.ErrNotExist):
		if err := a.create(name); err != nil {
			return nil, err
		}
	case errCert != nil:
		return nil, fmt.Errorf("stat CA certificate: %w", errCert)
	case errKey != nil:
		return nil, fmt.Errorf("stat CA key: %w", errKey)
	}
	cert, key, err := readPair(Pair{CertFile: a.CertFile, KeyFile: a.KeyFile})
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	a.cert, a.key = cert, key
	return a, nil
}

func (a *Authority) create(name string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	return writePair(Pair{CertFile: a.CertFile, KeyFile: a.KeyFile}, der, key)
}

// Cert returns the CA certificate.
func (a *Authority) Cert() *x509.Certificate { return a.cert }

// CertPEM returns the CA certificate, PEM-encoded.
func (a *Authority) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw})
}

// Ensure returns the pair dir/name.crt, dir/name.key, issuing it from spec
// when the certificate file does not exist yet.
func (a *Authority) Ensure(dir, name string, spec Spec) (Pair, error) {
	p := Pair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	if _, err := os.Stat(p.CertFile); err == nil {
		return p, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Pair{}, fmt.Errorf("stat %s: %w", p.CertFile, err)
	}
	der, key, err := a.Issue(spec)
	if err != nil {
		return Pair{}, fmt.Errorf("issue %s: %w", name, err)
	}
	if err := writePair(p, der, key); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// Issue makes a new key and a certificate for it signed by the CA, returning
// the certificate's DER bytes and the key.
func (a *Authority) Issue(spec Spec) ([]byte, *ecdsa.PrivateKey, error) {
	if spec.CommonName == "" {
		return nil, nil, errors.New("certificate needs a common name")
	}
	if spec.Usage&(Client|Server) == 0 {
		return nil, nil, errors.New("certificate needs a usage")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if spec.Usage&Client != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if spec.Usage&Server != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %s: %w", spec.CommonName, err)
	}
	return der, key, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}
