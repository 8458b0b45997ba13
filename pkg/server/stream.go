package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

// The upstream kubelet's streaming timeouts: an idle stream is closed
// after streamingConnectionIdleTimeout (its default), and a client has
// DefaultStreamCreationTimeout to open the streams it asked for.
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// Streamer runs the streaming requests of the kubelet API in the node's
// pods. Its methods may be called concurrently.
type Streamer interface {
	// PodUID returns the UID of the node's pod namespace/name. Errors wrap
	// ErrNotFound for a pod the node does not run.
	PodUID(namespace, name string) (types.UID, error)
	// Exec runs cmd in a running container of pod uid, as `runc exec`
	// does, and returns its exit code (128+signal when a signal ended
	// it). When ctx ends first, the process and what it started are
	// killed and the error wraps ctx's error.
	Exec(ctx context.Context, uid types.UID, container string, cmd []string, s ExecStreams) (int, error)
	// PortForward copies between stream and port on the loopback address
	// of pod uid's network namespace until the connection ends either way
	// or ctx is done.
	PortForward(ctx context.Context, uid types.UID, port int32, stream io.ReadWriteCloser) error
}

// ExecStreams are the standard streams of an exec'd process; each may be
// nil.
type ExecStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY puts the process on a terminal: Stdin feeds it, Stdout gets
	// its output, Resize its size changes.
	TTY    bool
	Resize <-chan remotecommand.TerminalSize
}

// execCommandParam is the query parameter of an exec's command words
// (k8s.io/api/core/v1.ExecCommandParam).
const execCommandParam = "command"

// streamRoutes adds the streaming endpoints, each also with the pod's UID
// before the container as upstream serves them.
func (s *Server) streamRoutes(m *http.ServeMux) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, p := range []string{"/{namespace}/{pod}/{container}", "/{namespace}/{pod}/{uid}/{container}"} {
			m.HandleFunc(method+" /exec"+p, s.exec)
			m.HandleFunc(method+" /attach"+p, s.attach)
		}
		m.HandleFunc(method+" /portForward/{namespace}/{pod}", s.portForward)
		m.HandleFunc(method+" /portForward/{namespace}/{pod}/{uid}", s.portForward)
	}
	m.HandleFunc("POST /run/{namespace}/{pod}/{container}", s.run)
	m.HandleFunc("POST /run/{namespace}/{pod}/{uid}/{container}", s.run)
}

// podUID resolves the request's pod, checking the UID in the path if it
// has one, or answers 404 (or 500) and returns false.
func (s *Server) podUID(w http.ResponseWriter, r *http.Request) (types.UID, bool) {
	if s.cfg.Streams == nil {
		http.Error(w, "streaming is not served by this node", http.StatusNotFound)
		return "", false
	}
	ns, name, want := r.PathValue("namespace"), r.PathValue("pod"), types.UID(r.PathValue("uid"))
	uid, err := s.cfg.Streams.PodUID(ns, name)
	if err == nil && want != "" && uid != want {
		err = fmt.Errorf("pod %s/%s with UID %s: %w", ns, name, want, ErrNotFound)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
		return "", false
	case err != nil:
		klog.FromContext(r.Context()).Error(err, "Failed to find pod", "path", r.URL.Path)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return "", false
	}
	return uid, true
}

// exec serves /exec: a command in a running container, its streams over
// SPDY or WebSocket.
func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()[execCommandParam]
	if len(cmd) == 0 {
		http.Error(w, "no command", http.StatusBadRequest)
		return
	}
	uid, ok := s.podUID(w, r)
	if !ok {
		return
	}
	w, r, done := watchClient(w, r)
	defer done()
	remotecommand.ServeExec(w, r, executor{s.cfg.Streams}, r.PathValue("pod"), string(uid), r.PathValue("container"),
		cmd, opts, streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// executor runs remotecommand's exec through a Streamer.
type executor struct{ s Streamer }

func (e executor) ExecInContainer(ctx context.Context, _, uid, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	st := ExecStreams{Stdin: in, Stdout: out, Stderr: errw, TTY: tty, Resize: resize}
	code, err := e.s.Exec(ctx, types.UID(uid), container, cmd, st)
	if err != nil {
		return err
	}
	if code != 0 {
		// remotecommand reports an ExitError's code to the client.
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// run serves /run: a command's output in one response, stdout then
// stderr, as upstream's RunInContainer; a non-zero exit is a 500.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	// For legacy reasons /run takes one space-separated cmd parameter.
	cmd := strings.Fields(r.URL.Query().Get("cmd"))
	if len(cmd) == 0 {
		http.Error(w, "no command", http.StatusBadRequest)
		return
	}
	uid, ok := s.podUID(w, r)
	if !ok {
		return
	}
	var stdout, stderr strings.Builder
	code, err := s.cfg.Streams.Exec(r.Context(), uid, r.PathValue("container"), cmd, ExecStreams{Stdout: &stdout, Stderr: &stderr})
	if err == nil && code != 0 {
		err = fmt.Errorf("command %q exited with code %d: %s%s", cmd, code, stdout.String(), stderr.String())
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json") // upstream's, whatever the output is
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, stdout.String()+stderr.String())
}

// portForward serves /portForward: connections to the pod's ports, each
// over its own pair of streams.
func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	uid, ok := s.podUID(w, r)
	if !ok {
		return
	}
	w, r, done := watchClient(w, r)
	defer done()
	portforward.ServePortForward(w, r, forwarder{s: s.cfg.Streams, ctx: r.Context()}, r.PathValue("pod"), string(uid),
		opts, streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// forwarder runs remotecommand's port forwards through a Streamer, in
// the request's context: portforward hands it a context that never ends.
type forwarder struct {
	s   Streamer
	ctx context.Context
}

func (f forwarder) PortForward(_ context.Context, _, uid string, port int32, stream io.ReadWriteCloser) error {
	return f.s.PortForward(f.ctx, types.UID(uid), port, stream)
}

// watchClient returns the response writer and request a streaming
// handler upgrades: the request's context ends when the client's
// connection does. Once a connection is hijacked, the HTTP server no
// longer watches it, and an exec'd process must not outlive its client.
// done releases the context.
func watchClient(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	return &hijackWatcher{ResponseWriter: w, gone: cancel}, r.WithContext(ctx), cancel
}

// hijackWatcher is a ResponseWriter whose hijacked connection calls gone
// when a read from it fails: the client closed it, or it broke. It has no
// Unwrap, so that the upgraders hijack through it.
type hijackWatcher struct {
	http.ResponseWriter
	gone func()
}

func (h *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The upgraders read through rw's buffer, which holds what the
	// server read ahead; both paths are watched.
	rw.Reader = bufio.NewReader(&goneReader{r: rw.Reader, gone: h.gone})
	return &goneConn{Conn: conn, r: goneReader{r: conn, gone: h.gone}}, rw, nil
}

func (h *hijackWatcher) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type goneReader struct {
	r    io.Reader
	gone func()
}

func (g *goneReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil {
		g.gone()
	}
	return n, err
}

// goneConn is a connection whose reads go through a goneReader.
type goneConn struct {
	net.Conn
	r goneReader
}

func (g *goneConn) Read(p []byte) (int, error) { return g.r.Read(p) }
