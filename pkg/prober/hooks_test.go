package prober

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestExecHook(t *testing.T) {
	tests := []struct {
		name    string
		reply   execReply
		wantErr string
	}{
		{"exit 0", execReply{code: 0}, ""},
		{"exit 2", execReply{code: 2, output: "no config"}, `exec lifecycle hook ([setup]) for container "app" in pod default/web failed: no config`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			go func() { c := <-h.exec.calls; c.reply <- tc.reply }()
			err := h.m.RunHook(context.Background(), testPod(corev1.Container{}), "app",
				&corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"setup"}}})
			if got := errString(err); got != tc.wantErr {
				t.Errorf("RunHook error %q, want %q", got, tc.wantErr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestHTTPHook(t *testing.T) {
	paths := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path + " " + r.Header.Get("User-Agent")
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tests := []struct {
		name     string
		action   corev1.HTTPGetAction
		wantErr  bool
		wantPath string
	}{
		{"status codes are ignored", corev1.HTTPGetAction{Path: "/stop", Port: intstr.FromInt32(int32(port))}, false, "/stop kube-lifecycle/1.37"},
		{"https to an http server falls back to http", corev1.HTTPGetAction{Path: "/tls", Port: intstr.FromInt32(int32(port)),
			Scheme: corev1.URISchemeHTTPS}, false, "/tls kube-lifecycle/1.37"},
		{"no server", corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt32(int32(closed))}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			err := h.m.RunHook(context.Background(), testPod(corev1.Container{}), "app", &corev1.LifecycleHandler{HTTPGet: &tc.action})
			if (err != nil) != tc.wantErr {
				t.Fatalf("RunHook error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if !strings.Contains(err.Error(), "http lifecycle hook (/x)") {
					t.Errorf("error %q does not name the hook", err)
				}
				return
			}
			if got := <-paths; got != tc.wantPath {
				t.Errorf("request %q, want %q", got, tc.wantPath)
			}
		})
	}
}

// waitWaiters waits until n timers or tickers wait on the fake clock.
func (h *harness) waitWaiters(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.clock.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", h.clock.Waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSleepHook(t *testing.T) {
	h := newHarness(t)
	sleep := &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}
	done := make(chan error, 1)
	go func() { done <- h.m.RunHook(context.Background(), testPod(corev1.Container{}), "app", sleep) }()
	h.waitWaiters(t, 1)
	h.clock.Step(4 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("sleep hook returned after 4 of 5 s: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.clock.Step(time.Second)
	if err := <-done; err != nil {
		t.Errorf("sleep hook: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- h.m.RunHook(ctx, testPod(corev1.Container{}), "app", sleep) }()
	h.waitWaiters(t, 1)
	cancel()
	if err := <-done; err == nil {
		t.Error("sleep hook cut short: no error")
	}
}

func TestPreStopGracePeriod(t *testing.T) {
	tests := []struct {
		name      string
		preStop   *corev1.LifecycleHandler
		grace     time.Duration
		hookTime  time.Duration
		wantGrace time.Duration
	}{
		{"no hook", nil, 10 * time.Second, 0, 10 * time.Second},
		{"hook time is subtracted", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 3}}, 10 * time.Second, 3 * time.Second, 7 * time.Second},
		{"at least two seconds are left", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 3}}, 4 * time.Second, 3 * time.Second, 2 * time.Second},
		{"no hook with no grace", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 3}}, 0, 0, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			pod := testPod(corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: tc.preStop}})
			type res struct {
				grace time.Duration
				err   error
			}
			done := make(chan res, 1)
			go func() {
				g, err := h.m.PreStop(context.Background(), pod, "app", tc.grace)
				done <- res{g, err}
			}()
			if tc.hookTime > 0 {
				h.waitWaiters(t, 1)
				h.clock.Step(tc.hookTime)
			}
			r := <-done
			if r.grace != tc.wantGrace || r.err != nil {
				t.Errorf("PreStop = %s, %v; want %s, nil", r.grace, r.err, tc.wantGrace)
			}
		})
	}
}

func TestNewRejectsMissingParts(t *testing.T) {
	_, err := New(Config{})
	if err == nil || !strings.Contains(err.Error(), "no Execer") || !strings.Contains(err.Error(), "no Network") ||
		!strings.Contains(err.Error(), "no Results callback") {
		t.Errorf("New(Config{}) error = %v, want all three parts named", err)
	}
}
