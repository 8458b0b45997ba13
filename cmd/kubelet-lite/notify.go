package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// notifyReady tells systemd (a Type=notify unit) that the agent is up:
// once healthz (host:port of the plain /healthz, "" for none) answers 200,
// which it does once the kubelet API serves too. Without $NOTIFY_SOCKET it
// does nothing. It gives up when ctx ends.
func notifyReady(ctx context.Context, healthz string) {
	if healthz != "" {
		url, err := healthzURL(healthz)
		if err != nil {
			klog.ErrorS(err, "Readiness is not reported to systemd")
			return
		}
		client := &http.Client{Timeout: 2 * time.Second}
		err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return false, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		if err != nil {
			return
		}
	}
	sent, err := daemon.SdNotify(false, daemon.SdNotifyReady)
	if err != nil {
		klog.ErrorS(err, "Telling systemd the agent is ready failed")
		return
	}
	if sent {
		klog.V(2).InfoS("Told systemd the agent is ready")
	}
}

// healthzURL is the /healthz URL of a listen address; an unspecified host
// is reached on loopback.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("healthz address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
