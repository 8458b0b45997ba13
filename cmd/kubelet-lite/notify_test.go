package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestNotifyReady: READY=1 reaches $NOTIFY_SOCKET once /healthz answers
// 200, and not before.
func TestNotifyReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)

	var healthy, askedWhileSick atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			askedWhileSick.Store(true)
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok")) //nolint:errcheck
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { notifyReady(ctx, strings.TrimPrefix(srv.URL, "http://")); close(done) }()

	buf := make([]byte, 256)
	conn.SetReadDeadline(time.Now().Add(time.Second)) //nolint:errcheck
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("got %q while /healthz failed", buf[:n])
	}
	if !askedWhileSick.Load() {
		t.Fatal("notifyReady did not ask /healthz")
	}
	healthy.Store(true)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second)) //nolint:errcheck
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification after /healthz turned healthy: %v", err)
	}
	if got := string(buf[:n]); got != "READY=1" {
		t.Errorf("notification = %q, want READY=1", got)
	}
	<-done
}

func TestHealthzURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:10248", "http://127.0.0.1:10248/healthz"},
		{"0.0.0.0:10248", "http://127.0.0.1:10248/healthz"},
		{":10248", "http://127.0.0.1:10248/healthz"},
		{"[::1]:10248", "http://[::1]:10248/healthz"},
	} {
		got, err := healthzURL(tc.addr)
		if err != nil || got != tc.want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}
