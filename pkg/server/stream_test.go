package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	httpstreamspdy "k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	clientremote "k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
)

// fakeStreamer runs a few commands of its own and echoes port forwards.
type fakeStreamer struct {
	// ended gets the context error of each exec its context ended.
	ended chan error
}

const webUID types.UID = "uid-web"

func (f *fakeStreamer) PodUID(ns, name string) (types.UID, error) {
	if ns == "default" && name == "web" {
		return webUID, nil
	}
	return "", fmt.Errorf("pod %s/%s: %w", ns, name, ErrNotFound)
}

func (f *fakeStreamer) Exec(ctx context.Context, uid types.UID, ctr string, cmd []string, st ExecStreams) (int, error) {
	if uid != webUID || ctr != "app" {
		return -1, fmt.Errorf("container %s in %s: %w", ctr, uid, ErrNotFound)
	}
	switch cmd[0] {
	case "echo":
		fmt.Fprint(st.Stdout, strings.Join(cmd[1:], " "))
	case "fail":
		fmt.Fprint(st.Stdout, "out")
		fmt.Fprint(st.Stderr, "err")
		return 3, nil
	case "cat":
		_, err := io.Copy(st.Stdout, st.Stdin)
		return 0, err
	case "line": // echoes one line of stdin
		var b [1]byte
		for {
			if _, err := st.Stdin.Read(b[:]); err != nil {
				return 1, err
			}
			st.Stdout.Write(b[:])
			if b[0] == '\n' {
				return 0, nil
			}
		}
	case "sizes": // prints two terminal sizes
		for i := 0; i < 2; i++ {
			sz, ok := <-st.Resize
			if !ok {
				return 1, nil
			}
			fmt.Fprintf(st.Stdout, "%dx%d tty=%v\n", sz.Width, sz.Height, st.TTY)
		}
	case "hang":
		fmt.Fprint(st.Stdout, "started")
		<-ctx.Done()
		f.ended <- ctx.Err()
		return 137, fmt.Errorf("killed: %w", ctx.Err())
	default:
		return 127, nil
	}
	return 0, nil
}

// PortForward answers "port <port> of <uid>: " and echoes what it reads.
func (f *fakeStreamer) PortForward(ctx context.Context, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	if port != 8080 {
		return fmt.Errorf("connection refused on port %d", port)
	}
	fmt.Fprintf(stream, "port %d of %s: ", port, uid)
	_, err := io.Copy(stream, stream)
	return err
}

// liveLogs is a LogSource of one running container, default/web/app.
type liveLogs struct {
	path    string
	running *atomic.Bool
}

func (l liveLogs) LogPath(ns, pod, ctr string, previous bool) (string, error) {
	if ns+"/"+pod+"/"+ctr != "default/web/app" || previous {
		return "", fmt.Errorf("container %q in pod %s/%s: %w", ctr, ns, pod, ErrNotFound)
	}
	return l.path, nil
}

func (l liveLogs) Running(_, _, _, path string) bool { return path == l.path && l.running.Load() }

// allowProxy allows one user every verb on nodes/proxy of node-1: exec
// over SPDY is a POST, "create".
func allowProxy(name string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser().GetName() == name && a.GetResource() == "nodes" && a.GetSubresource() == "proxy" && a.GetName() == "node-1" {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
}

type streamServer struct {
	url      string
	rest     *rest.Config // the apiserver's client
	streamer *fakeStreamer
	logs     liveLogs
	ca       *testCA
	roots    *x509.CertPool
}

func startStreamServer(t *testing.T) *streamServer {
	t.Helper()
	ca := newTestCA(t, "client-ca")
	ss := &streamServer{
		streamer: &fakeStreamer{ended: make(chan error, 1)},
		logs:     liveLogs{path: writeLog(t, "2026-01-02T03:04:01Z stdout F old line\n"), running: &atomic.Bool{}},
		ca:       ca,
	}
	ss.logs.running.Store(true)
	certDir := t.TempDir()
	ss.url, _, ss.roots = startServerWith(t, ca, func(c *Config) {
		c.Logs, c.Streams, c.Authorizer, c.CertDir = ss.logs, ss.streamer, allowProxy("apiserver"), certDir
	})
	serving, err := os.ReadFile(filepath.Join(certDir, "kubelet.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cert := ca.clientCert(t, "apiserver", "")
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	ss.rest = &rest.Config{Host: ss.url, TLSClientConfig: rest.TLSClientConfig{
		ServerName: "node-1", CAData: serving,
		CertData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}}
	return ss
}

// execURL is the kubelet URL the apiserver proxies `kubectl exec` to.
func (ss *streamServer) execURL(verb, path string, cmd []string, flags ...string) *url.URL {
	u, err := url.Parse(ss.url + "/" + verb + path)
	if err != nil {
		panic(err)
	}
	q := url.Values{"command": cmd}
	for _, f := range flags {
		q.Set(f, "1")
	}
	u.RawQuery = q.Encode()
	return u
}

func (ss *streamServer) spdy(t *testing.T, u *url.URL) clientremote.Executor {
	t.Helper()
	e, err := clientremote.NewSPDYExecutor(ss.rest, http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExecSPDYAndWebSocket(t *testing.T) {
	ss := startStreamServer(t)
	cases := []struct {
		name       string
		path       string
		cmd        []string
		stdin      string
		wantOut    string
		wantErrOut string
		wantCode   int // -1: an error that is no exit code
	}{
		{"output", "/default/web/app", []string{"echo", "hello", "world"}, "", "hello world", "", 0},
		{"exit code and stderr", "/default/web/app", []string{"fail"}, "", "out", "err", 3},
		{"stdin", "/default/web/app", []string{"line"}, "some input\nmore", "some input\n", "", 0},
		{"with the pod's UID", "/default/web/uid-web/app", []string{"echo", "ok"}, "", "ok", "", 0},
		{"unknown container", "/default/web/db", []string{"echo"}, "", "", "", -1},
	}
	for _, proto := range []string{"websocket", "spdy"} { // spdy last: it adds a case
		if proto == "spdy" {
			// Only SPDY (and WebSocket v5, which the library does not
			// serve) can close stdin.
			cases = append(cases, struct {
				name       string
				path       string
				cmd        []string
				stdin      string
				wantOut    string
				wantErrOut string
				wantCode   int
			}{"stdin to its end", "/default/web/app", []string{"cat"}, "all\nof it", "all\nof it", "", 0})
		}
		for _, tc := range cases {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				flags := []string{"output", "error"}
				var opts clientremote.StreamOptions
				var stdout, stderr bytes.Buffer
				opts.Stdout, opts.Stderr = &stdout, &stderr
				if tc.stdin != "" {
					flags = append(flags, "input")
					opts.Stdin = strings.NewReader(tc.stdin)
				}
				u := ss.execURL("exec", tc.path, tc.cmd, flags...)
				var e clientremote.Executor
				if proto == "spdy" {
					e = ss.spdy(t, u)
				} else {
					var err error
					// The library serves the channel protocols up to v4.
					if e, err = clientremote.NewWebSocketExecutorForProtocols(ss.rest, http.MethodGet, u.String(), "v4.channel.k8s.io"); err != nil {
						t.Fatal(err)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err := e.StreamWithContext(ctx, opts)
				var code utilexec.CodeExitError
				switch {
				case tc.wantCode == 0 && err != nil, tc.wantCode < 0 && err == nil:
					t.Fatalf("exec error = %v, want code %d", err, tc.wantCode)
				case tc.wantCode > 0 && (!errors.As(err, &code) || code.Code != tc.wantCode):
					t.Fatalf("exec error = %v, want exit code %d", err, tc.wantCode)
				}
				if stdout.String() != tc.wantOut || stderr.String() != tc.wantErrOut {
					t.Errorf("stdout, stderr = %q, %q; want %q, %q", stdout.String(), stderr.String(), tc.wantOut, tc.wantErrOut)
				}
			})
		}
	}
}

// sizeQueue hands out terminal sizes until it is closed.
type sizeQueue chan clientremote.TerminalSize

func (q sizeQueue) Next() *clientremote.TerminalSize {
	sz, ok := <-q
	if !ok {
		return nil
	}
	return &sz
}

func TestExecTTYResize(t *testing.T) {
	ss := startStreamServer(t)
	sizes := make(sizeQueue, 2)
	sizes <- clientremote.TerminalSize{Width: 80, Height: 24}
	sizes <- clientremote.TerminalSize{Width: 132, Height: 43}
	defer close(sizes)
	var stdout bytes.Buffer
	e := ss.spdy(t, ss.execURL("exec", "/default/web/app", []string{"sizes"}, "output", "tty"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.StreamWithContext(ctx, clientremote.StreamOptions{Stdout: &stdout, Tty: true, TerminalSizeQueue: sizes}); err != nil {
		t.Fatal(err)
	}
	if want := "80x24 tty=true\n132x43 tty=true\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
}

// signalWriter closes written when something is written.
type signalWriter struct {
	once    sync.Once
	written chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.written) })
	return len(p), nil
}

// dropConns records the connections it dials, to drop them as a client
// that goes away does.
type dropConns struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *dropConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *dropConns) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}

func TestExecEndsWhenClientGoes(t *testing.T) {
	ss := startStreamServer(t)
	tlsConfig, err := rest.TLSConfigFor(ss.rest)
	if err != nil {
		t.Fatal(err)
	}
	conns := &dropConns{}
	upgrader, err := httpstreamspdy.NewRoundTripperWithConfig(httpstreamspdy.RoundTripperConfig{
		UpgradeTransport: &http.Transport{DialContext: conns.dial, TLSClientConfig: tlsConfig},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := clientremote.NewSPDYExecutorForTransports(upgrader, upgrader, http.MethodPost,
		ss.execURL("exec", "/default/web/app", []string{"hang"}, "output"))
	if err != nil {
		t.Fatal(err)
	}
	out := &signalWriter{written: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- e.StreamWithContext(context.Background(), clientremote.StreamOptions{Stdout: out}) }()
	select {
	case <-out.written:
	case err := <-done:
		t.Fatalf("exec ended before its output: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no output from the exec")
	}
	conns.drop() // the client is gone, without a word
	select {
	case err := <-ss.streamer.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("exec's context ended with %v, want canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the exec's context did not end after its client's connection closed")
	}
	<-done
}

func TestPortForward(t *testing.T) {
	ss := startStreamServer(t)
	u, err := url.Parse(ss.url + "/portForward/default/web")
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(ss.rest)
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port forward: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("port forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	// Two connections one after the other, each its own stream pair.
	for i := range 2 {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("hello %d", i)
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(conn)
		conn.Close()
		if want := "port 8080 of uid-web: " + msg; string(got) != want || err != nil {
			t.Errorf("connection %d read %q, %v; want %q", i, got, err, want)
		}
	}
}

func TestAttachFollowsOutput(t *testing.T) {
	ss := startStreamServer(t)
	var stdout, stderr syncBuffer
	e := ss.spdy(t, ss.execURL("attach", "/default/web/app", nil, "output", "error"))
	done := make(chan error, 1)
	go func() {
		done <- e.StreamWithContext(context.Background(), clientremote.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	}()
	f, err := os.OpenFile(ss.logs.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Lines are written until some arrive: the attach sees only what is
	// written after it started.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; stdout.String() == "" || stderr.String() == ""; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no attached output; stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		fmt.Fprintf(f, "2026-01-02T03:04:02Z stdout F out %d\n2026-01-02T03:04:02Z stderr F err %d\n", i, i)
		time.Sleep(100 * time.Millisecond)
	}
	ss.logs.running.Store(false) // the container stopped: attach ends
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach = %v, want success when the container stopped", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("attach did not end after the container stopped")
	}
	if strings.Contains(stdout.String(), "old line") || !strings.HasPrefix(stdout.String(), "out ") || !strings.HasPrefix(stderr.String(), "err ") {
		t.Errorf("stdout %q, stderr %q: want only new lines, \"out N\" on stdout and \"err N\" on stderr", stdout.String(), stderr.String())
	}
}

func TestStreamingRequests(t *testing.T) {
	ss := startStreamServer(t)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: ss.roots, ServerName: "node-1", Certificates: certs,
		}}}
	}
	apiserver := client(ss.ca.clientCert(t, "apiserver", ""))
	cases := []struct {
		name     string
		client   *http.Client
		path     string
		wantCode int
		wantBody string
	}{
		{"run", apiserver, "/run/default/web/app?cmd=echo+one+two", 200, "one two"},
		{"run with the pod's UID", apiserver, "/run/default/web/uid-web/app?cmd=echo+x", 200, "x"},
		{"run that fails", apiserver, "/run/default/web/app?cmd=fail", 500, "command [\"fail\"] exited with code 3: outerr\n"},
		{"run without a command", apiserver, "/run/default/web/app", 400, "no command\n"},
		{"exec in an unknown pod", apiserver, "/exec/default/nope/app?command=echo&output=1", 404, "pod default/nope: not found\n"},
		{"exec with another UID", apiserver, "/exec/default/web/uid-old/app?command=echo&output=1", 404, "pod default/web with UID uid-old: not found\n"},
		{"exec without streams", apiserver, "/exec/default/web/app?command=echo", 400, "you must specify at least 1 of stdin, stdout, stderr\n"},
		{"port forward of an unknown pod", apiserver, "/portForward/default/nope", 404, "pod default/nope: not found\n"},
		{"attach with stdin", apiserver, "/attach/default/web/app?input=1&output=1", 400, errAttachStdin.Error() + "\n"},
		{"attach to an unknown container", apiserver, "/attach/default/web/db?output=1", 404, "container \"db\" in pod default/web: not found\n"},
		{"exec without credentials", client(), "/exec/default/web/app?command=echo&output=1", 401, "Unauthorized\n"},
		{"exec by a user without nodes/proxy", client(ss.ca.clientCert(t, "alice", "devs")), "/exec/default/web/app?command=echo&output=1", 403,
			"Forbidden (user=alice, verb=create, resource=nodes, subresource(s)=[proxy])\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Post(ss.url+tc.path, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || string(body) != tc.wantBody {
				t.Errorf("POST %s = %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}
