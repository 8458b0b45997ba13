package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// probeServer serves the paths the http probe tests use and records the
// last request's headers.
func probeServer(t *testing.T) (*httptest.Server, chan http.Header) {
	t.Helper()
	headers := make(chan http.Header, 16)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		headers <- http.Header{"Host": {r.Host}}
		fmt.Fprint(w, "healthy")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect-local", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-local-broken", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status/500", http.StatusFound)
	})
	mux.HandleFunc("/redirect-away", func(w http.ResponseWriter, r *http.Request) {
		// Another host name (same server): not followed, as upstream.
		u := "http://localhost:" + strings.Split(r.Host, ":")[1] + "/ok"
		http.Redirect(w, r, u, http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, headers
}

func loopbackTarget(port int) target {
	return target{podUID: "uid-web", net: PodNetwork{Dialer: &net.Dialer{}},
		container: &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}}
}

func TestHTTPProbe(t *testing.T) {
	srv, _ := probeServer(t)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	tests := []struct {
		name        string
		path        string
		port        intstr.IntOrString
		want        outcome
		wantErr     bool
		wantMsgPart string
	}{
		{"200 with body", "/ok", intstr.FromInt32(int32(port)), outcome{status: Success, msg: "healthy"}, false, ""},
		{"named port", "/ok", intstr.FromString("http"), outcome{status: Success, msg: "healthy"}, false, ""},
		{"port number as a string", "/ok", intstr.FromString(strconv.Itoa(port)), outcome{status: Success, msg: "healthy"}, false, ""},
		{"unknown port name", "/ok", intstr.FromString("nope"), outcome{}, true, ""},
		{"204", "/status/204", intstr.FromInt32(int32(port)), outcome{status: Success}, false, ""},
		{"399", "/status/399", intstr.FromInt32(int32(port)), outcome{status: Success, warning: true, msg: "Probe terminated redirects, Response body: "}, false, ""},
		{"404", "/status/404", intstr.FromInt32(int32(port)), outcome{status: Failure, msg: "HTTP probe failed with statuscode: 404"}, false, ""},
		{"500", "/status/500", intstr.FromInt32(int32(port)), outcome{status: Failure, msg: "HTTP probe failed with statuscode: 500"}, false, ""},
		{"same-host redirect followed", "/redirect-local", intstr.FromInt32(int32(port)), outcome{status: Success, msg: "healthy"}, false, ""},
		{"same-host redirect to a failure", "/redirect-local-broken", intstr.FromInt32(int32(port)), outcome{status: Failure, msg: "HTTP probe failed with statuscode: 500"}, false, ""},
		{"redirect to another host is a warning", "/redirect-away", intstr.FromInt32(int32(port)), outcome{status: Success, warning: true, msg: "Probe terminated redirects, Response body: "}, false, ""},
		{"timeout", "/slow", intstr.FromInt32(int32(port)), outcome{status: Failure}, false, "deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: tc.path, Port: tc.port}}
			got, err := runProbe(context.Background(), loopbackTarget(port), h, 500*time.Millisecond)
			if (err != nil) != tc.wantErr {
				t.Fatalf("runProbe error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantMsgPart != "" {
				if got.status != tc.want.status || !strings.Contains(got.msg, tc.wantMsgPart) {
					t.Errorf("runProbe = %+v, want %s with %q", got, tc.want.status, tc.wantMsgPart)
				}
				return
			}
			// The body of a redirect response depends on Go's http package.
			if tc.want.warning {
				got.msg = got.msg[:min(len(got.msg), len(tc.want.msg))]
			}
			if got != tc.want {
				t.Errorf("runProbe = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHTTPProbeHeaders(t *testing.T) {
	srv, headers := probeServer(t)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	tests := []struct {
		name        string
		spec        []corev1.HTTPHeader
		wantUA      string
		wantAccept  []string
		wantCustom  string
		wantHostHdr string
	}{
		{"defaults", nil, "kube-probe/1.37", []string{"*/*"}, "", u.Host},
		{"custom headers and host", []corev1.HTTPHeader{{Name: "x-custom", Value: "v"}, {Name: "User-Agent", Value: "me"},
			{Name: "Host", Value: "example.test"}}, "me", []string{"*/*"}, "v", "example.test"},
		{"empty accept removes it", []corev1.HTTPHeader{{Name: "Accept", Value: ""}}, "kube-probe/1.37", nil, "", u.Host},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port)), HTTPHeaders: tc.spec}}
			if o, err := runProbe(context.Background(), loopbackTarget(port), h, time.Second); err != nil || o.status != Success {
				t.Fatalf("runProbe = %+v, %v", o, err)
			}
			got, host := <-headers, (<-headers).Get("Host")
			if got.Get("User-Agent") != tc.wantUA || fmt.Sprint(got.Values("Accept")) != fmt.Sprint(tc.wantAccept) ||
				got.Get("X-Custom") != tc.wantCustom || host != tc.wantHostHdr {
				t.Errorf("headers %v host %q; want UA %q, Accept %v, X-Custom %q, host %q",
					got, host, tc.wantUA, tc.wantAccept, tc.wantCustom, tc.wantHostHdr)
			}
		})
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := l.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closedL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedL.Addr().(*net.TCPAddr).Port
	closedL.Close()
	t.Cleanup(func() { l.Close() })
	tests := []struct {
		name       string
		port       int
		host       string
		wantStatus Status
	}{
		{"listening", open, "", Success},
		{"explicit host", open, "127.0.0.1", Success},
		{"nothing listening", closed, "", Failure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(tc.port)), Host: tc.host}}
			got, err := runProbe(context.Background(), loopbackTarget(tc.port), h, time.Second)
			if err != nil || got.status != tc.wantStatus {
				t.Errorf("runProbe = %+v, %v; want %s", got, err, tc.wantStatus)
			}
		})
	}
}

func TestExecAndGRPCProbes(t *testing.T) {
	tests := []struct {
		name    string
		reply   execReply
		want    outcome
		wantErr bool
	}{
		{"exit 0", execReply{code: 0, output: "fine"}, outcome{status: Success, msg: "fine"}, false},
		{"exit 1 with output", execReply{code: 1, output: "broken"}, outcome{status: Failure, msg: "broken"}, false},
		{"killed at the timeout", execReply{code: 137, err: fmt.Errorf("killed: %w", context.DeadlineExceeded)},
			outcome{status: Failure, msg: `command ["check"] timed out`}, false},
		{"container not running", execReply{code: -1, err: errors.New("container is not running")}, outcome{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeExecer()
			tg := loopbackTarget(80)
			tg.execer = f
			go func() { c := <-f.calls; c.reply <- tc.reply }()
			got, err := runProbe(context.Background(), tg, &corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}}, time.Second)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("runProbe = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestGRPCProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	health := grpchealth.NewServer()
	health.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, health)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	port := l.Addr().(*net.TCPAddr).Port

	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noHealth := grpc.NewServer()
	go noHealth.Serve(bare)
	t.Cleanup(noHealth.Stop)

	closed := freeLoopbackPort(t)
	tests := []struct {
		name    string
		port    int
		service *string
		want    Status
		msg     string
	}{
		{"server serving", port, nil, Success, ""},
		{"service not serving", port, ptr.To("db"), Failure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", port, ptr.To("nope"), Failure, "error: health rpc probe failed"},
		{"no health service", bare.Addr().(*net.TCPAddr).Port, nil, Failure, "does not implement the grpc health protocol"},
		{"nothing listening", closed, nil, Failure, "error: health rpc probe failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runProbe(context.Background(), loopbackTarget(80),
				&corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(tc.port), Service: tc.service}}, 5*time.Second)
			if err != nil || got.status != tc.want || !strings.Contains(got.msg, tc.msg) {
				t.Errorf("runProbe = %+v, %v; want %s with %q", got, err, tc.want, tc.msg)
			}
		})
	}
}

// freeLoopbackPort is a port nothing listens on.
func freeLoopbackPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestLimitedBuffer(t *testing.T) {
	b := &limitedBuffer{max: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if b.String() != "abcde" {
		t.Errorf("kept %q, want \"abcde\"", b.String())
	}
}
