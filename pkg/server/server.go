package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/stats"
)

// ErrNotFound is wrapped by a LogSource's errors for a pod, container or
// previous attempt that does not exist; the request gets 404.
var ErrNotFound = errors.New("not found")

// LogSource finds containers' CRI log files. Its methods may be called
// concurrently.
type LogSource interface {
	// LogPath returns the CRI log file of a container's current attempt,
	// or of its previous one when previous is set. It returns an error
	// wrapping ErrNotFound for an unknown pod or container, or when there
	// is no previous attempt.
	LogPath(namespace, pod, container string, previous bool) (string, error)
	// Running reports whether the container attempt writing the log at
	// path still runs, so that its log may grow. A follower stops once
	// this is false and the log is drained.
	Running(namespace, pod, container, path string) bool
}

// Config configures a Server.
type Config struct {
	// Addr is the TLS address of the kubelet API, ":10250".
	Addr string
	// TLSCertFile and TLSKeyFile are the serving certificate and key. If
	// both are empty, a self-signed certificate for NodeName and NodeIPs
	// is generated once in CertDir (kubelet.crt, kubelet.key), as the
	// kubelet does.
	TLSCertFile, TLSKeyFile string
	// GetCertificate, when set, supplies the serving certificate at each
	// handshake (a rotating one) instead of TLSCertFile or a generated one.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// CertDir holds the generated serving certificate.
	CertDir string
	// NodeIPs are put in a generated serving certificate.
	NodeIPs []net.IP
	// ClientCAFile verifies x509 client certificates; their CN is the
	// user and O the groups. Reloaded when it changes.
	ClientCAFile string
	// Client makes the TokenReviews and SubjectAccessReviews of delegated
	// authentication and authorization.
	Client kubernetes.Interface
	// NodeName names the node whose subresources requests are authorized
	// against.
	NodeName string
	// Logs finds container logs; /attach follows them too.
	Logs LogSource
	// Streams runs /exec, /run and /portForward; nil: they answer 404.
	Streams Streamer
	// Stats reads /stats/summary and /metrics/resource for the pods
	// StatsPods lists; nil serves neither.
	Stats     *stats.Collector
	StatsPods stats.PodSource
	// Pods lists the agent's pods for /pods; nil serves none.
	Pods func() []*corev1.Pod
	// HealthzAddr is the plain-HTTP /healthz address, "127.0.0.1:10248";
	// empty for none.
	HealthzAddr string
	// Healthy is the agent's health check behind /healthz; nil: always
	// healthy.
	Healthy func() error
	// Metrics serves /metrics (authorized as nodes/metrics); nil: 404.
	Metrics http.Handler

	// Authenticator and Authorizer replace the delegated ones built from
	// ClientCAFile and Client when set (tests, or another policy).
	Authenticator authenticator.Request
	Authorizer    authorizer.Authorizer
}

// Server is the kubelet API server.
type Server struct {
	cfg     Config
	handler http.Handler
	health  http.Handler
	tls     *tls.Config
	ca      *dynamiccertificates.DynamicFileCAContent
}

// New checks cfg, builds the authenticator and authorizer and loads or
// generates the serving certificate.
func New(cfg Config) (*Server, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("kubelet server: no node name")
	}
	if cfg.Logs == nil {
		return nil, errors.New("kubelet server: no log source")
	}
	if cfg.Addr == "" {
		return nil, errors.New("kubelet server: no address")
	}
	if cfg.Stats != nil && cfg.StatsPods == nil {
		return nil, errors.New("kubelet server: stats without a pod list")
	}
	s := &Server{cfg: cfg}
	authn, authz := cfg.Authenticator, cfg.Authorizer
	var err error
	if authn == nil {
		if cfg.Client == nil && cfg.ClientCAFile == "" {
			return nil, errors.New("kubelet server: no client CA file and no client for token reviews")
		}
		if authn, s.ca, err = delegatedAuthenticator(cfg.Client, cfg.ClientCAFile); err != nil {
			return nil, fmt.Errorf("kubelet server: %w", err)
		}
	}
	if authz == nil {
		if cfg.Client == nil {
			return nil, errors.New("kubelet server: no client for subject access reviews")
		}
		if authz, err = delegatedAuthorizer(cfg.Client); err != nil {
			return nil, fmt.Errorf("kubelet server: %w", err)
		}
	}
	if s.tls, err = serverTLS(cfg); err != nil {
		return nil, fmt.Errorf("kubelet server: %w", err)
	}
	s.health = healthMux(cfg.Healthy)
	s.handler = withAuth(cfg.NodeName, authn, authz, s.mux())
	return s, nil
}

func (s *Server) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.containerLogs)
	if s.cfg.Metrics != nil {
		m.Handle("GET "+metricsPath, s.cfg.Metrics)
	}
	s.streamRoutes(m)
	if s.cfg.Stats != nil {
		m.Handle(statsPath+"summary", s.cfg.Stats.SummaryHandler(s.cfg.StatsPods))
		m.Handle("GET "+metricsPath+"/resource", s.cfg.Stats.ResourceMetricsHandler(s.cfg.StatsPods))
	}
	if s.cfg.Pods != nil {
		m.HandleFunc("GET "+podsPath, s.pods)
	}
	m.Handle(healthzPath, s.health)
	m.Handle(healthzPath+"/", s.health)
	return m
}

func healthMux(healthy func() error) http.Handler {
	m := http.NewServeMux()
	checks := []healthz.HealthChecker{healthz.PingHealthz}
	if healthy != nil {
		checks = append(checks, healthz.NamedCheck("agent", func(*http.Request) error { return healthy() }))
	}
	healthz.InstallHandler(m, checks...)
	return m
}

// Handler returns the authenticated handler of the TLS port.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the TLS configuration of the TLS port.
func (s *Server) TLSConfig() *tls.Config { return s.tls.Clone() }

// Run serves the kubelet API on Addr and /healthz on HealthzAddr until ctx
// is done.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	var hln net.Listener
	if s.cfg.HealthzAddr != "" {
		if hln, err = net.Listen("tcp", s.cfg.HealthzAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s: %w", s.cfg.HealthzAddr, err)
		}
	}
	return s.Serve(ctx, ln, hln)
}

// Serve is Run on listeners made by the caller; health may be nil.
func (s *Server) Serve(ctx context.Context, api, health net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.ca != nil {
		go s.ca.Run(ctx, 1)
	}
	logger := klog.FromContext(ctx)
	servers := []*http.Server{newHTTPServer(ctx, s.handler, s.tls)}
	listeners := []net.Listener{tls.NewListener(api, s.tls)}
	if health != nil {
		servers = append(servers, newHTTPServer(ctx, s.health, nil))
		listeners = append(listeners, health)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		logger.Info("Serving", "address", listeners[i].Addr().String(), "tls", srv.TLSConfig != nil)
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel() // ends followers, which never go idle
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	for _, srv := range servers {
		srv.Shutdown(sctx) //nolint:errcheck // closing anyway
		srv.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func newHTTPServer(ctx context.Context, h http.Handler, tlsConfig *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

// serverTLS loads or generates the serving certificate and asks clients for
// a certificate, which the x509 authenticator verifies.
func serverTLS(cfg Config) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cfg.GetCertificate,
		ClientAuth:     tls.RequestClientCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if cfg.GetCertificate == nil {
		cert, err := servingCertificate(cfg)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if cfg.ClientCAFile != "" {
		// Only the names of acceptable CAs sent to the client; the
		// authenticator verifies against the current file.
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		c.ClientCAs = x509.NewCertPool()
		if !c.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no certificates", cfg.ClientCAFile)
		}
	}
	return c, nil
}

// servingCertificate loads TLSCertFile, or a self-signed certificate it
// generates once in CertDir.
func servingCertificate(cfg Config) (tls.Certificate, error) {
	certFile, keyFile := cfg.TLSCertFile, cfg.TLSKeyFile
	if certFile == "" && keyFile == "" {
		if cfg.CertDir == "" {
			return tls.Certificate{}, errors.New("no serving certificate and no directory to generate one in")
		}
		certFile = filepath.Join(cfg.CertDir, "kubelet.crt")
		keyFile = filepath.Join(cfg.CertDir, "kubelet.key")
		if err := ensureSelfSigned(certFile, keyFile, cfg.NodeName, cfg.NodeIPs); err != nil {
			return tls.Certificate{}, err
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load serving certificate: %w", err)
	}
	return cert, nil
}

// ensureSelfSigned generates a self-signed serving certificate for host and
// ips unless certFile and keyFile are readable.
func ensureSelfSigned(certFile, keyFile, host string, ips []net.IP) error {
	ok, err := certutil.CanReadCertAndKey(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	if ok {
		return nil
	}
	cert, key, err := certutil.GenerateSelfSignedCertKey(host, ips, nil)
	if err != nil {
		return fmt.Errorf("generate self-signed certificate: %w", err)
	}
	if err := certutil.WriteCert(certFile, cert); err != nil {
		return fmt.Errorf("write serving certificate: %w", err)
	}
	if err := keyutil.WriteKey(keyFile, key); err != nil {
		return fmt.Errorf("write serving key: %w", err)
	}
	return nil
}
