package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// maxOutput bounds what is kept of an exec's output or an HTTP body, as
// upstream does (10 KiB).
const maxOutput = 10 << 10

// userAgentVersion is the upstream minor release whose kubelet's User-Agent
// probes present ("kube-probe/1.37").
const userAgentVersion = "1.37"

// outcome is the result of one probe attempt.
type outcome struct {
	status Status
	// warning is set for a success upstream reports as probe.Warning (an
	// HTTP redirect that was not followed).
	warning bool
	msg     string
}

// target is the container a handler runs for.
type target struct {
	podUID    types.UID
	container *corev1.Container
	execer    Execer
	net       PodNetwork
}

// runProbe runs one attempt of a probe's handler. An error means the probe
// could not run; its result is then thrown away, as upstream does.
func runProbe(ctx context.Context, t target, p *corev1.ProbeHandler, timeout time.Duration) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		return execProbe(ctx, t, p.Exec.Command)
	case p.HTTPGet != nil:
		return httpProbe(ctx, t, p.HTTPGet, timeout)
	case p.TCPSocket != nil:
		return tcpProbe(ctx, t, p.TCPSocket)
	case p.GRPC != nil:
		return grpcProbe(ctx, t, p.GRPC)
	}
	return outcome{}, errors.New("probe has no handler")
}

// execProbe succeeds when the command exits 0; a command killed at the
// timeout is a failure (upstream's ExecProbeTimeout behaviour).
func execProbe(ctx context.Context, t target, cmd []string) (outcome, error) {
	out := &limitedBuffer{max: maxOutput}
	code, err := t.execer.Exec(ctx, t.podUID, t.container.Name, sandbox.ExecOptions{Cmd: cmd, Stdout: out, Stderr: out})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return outcome{status: Failure, msg: fmt.Sprintf("command %q timed out", cmd)}, nil
	case err != nil:
		return outcome{}, err
	case code != 0:
		return outcome{status: Failure, msg: out.String()}, nil
	}
	return outcome{status: Success, msg: out.String()}, nil
}

// tcpProbe succeeds when a TCP connection opens.
func tcpProbe(ctx context.Context, t target, a *corev1.TCPSocketAction) (outcome, error) {
	port, err := resolvePort(a.Port, t.container)
	if err != nil {
		return outcome{}, err
	}
	addr := net.JoinHostPort(hostOr(a.Host, t.net.IP), strconv.Itoa(port))
	conn, err := t.net.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return outcome{status: Failure, msg: err.Error()}, nil
	}
	conn.Close()
	return outcome{status: Success}, nil
}

// httpProbe succeeds on a status in [200, 400): a 3xx is a redirect the
// client did not follow (to another host), a success with a warning.
func httpProbe(ctx context.Context, t target, a *corev1.HTTPGetAction, timeout time.Duration) (outcome, error) {
	req, err := newRequest(ctx, a, t, "probe")
	if err != nil {
		return outcome{}, err
	}
	client := newHTTPClient(t.net.Dialer)
	client.Timeout = timeout
	res, err := client.Do(req)
	if err != nil {
		return outcome{status: Failure, msg: err.Error()}, nil
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return outcome{status: Failure, msg: err.Error()}, nil
	}
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			return outcome{status: Success, warning: true,
				msg: fmt.Sprintf("Probe terminated redirects, Response body: %s", body)}, nil
		}
		return outcome{status: Success, msg: string(body)}, nil
	}
	return outcome{status: Failure, msg: fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode)}, nil
}

// newHTTPClient is upstream's probe client: no proxy, no keep-alives, no
// certificate checks, redirects followed only on the same host.
func newHTTPClient(d Dialer) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:        d.DialContext,
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives:  true,
			DisableCompression: true,
			Proxy:              nil,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
}

// newRequest builds the GET request of an httpGet handler as upstream does.
func newRequest(ctx context.Context, a *corev1.HTTPGetAction, t target, purpose string) (*http.Request, error) {
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	port, err := resolvePort(a.Port, t.container)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(a.Path)
	if err != nil {
		u = &url.URL{Path: a.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(hostOr(a.Host, t.net.IP), strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("http request: %w", err)
	}
	headers := http.Header{}
	for _, h := range a.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", "kube-"+purpose+"/"+userAgentVersion)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

func hostOr(host, podIP string) string {
	switch {
	case host != "":
		return host
	case podIP != "":
		return podIP
	}
	return "127.0.0.1"
}

// resolvePort resolves a handler's port: a number, or the name of one of
// the container's ports (or a number written as a string).
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	port := -1
	switch p.Type {
	case intstr.Int:
		port = p.IntValue()
	case intstr.String:
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				port = int(cp.ContainerPort)
			}
		}
		if port == -1 {
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return -1, fmt.Errorf("port %q not found in container %s", p.StrVal, c.Name)
			}
			port = n
		}
	}
	if port <= 0 || port >= 65536 {
		return -1, fmt.Errorf("invalid port number: %v", port)
	}
	return port, nil
}

// limitedBuffer keeps the first max bytes written to it, safe for
// concurrent writers.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
