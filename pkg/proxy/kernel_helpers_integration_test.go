//go:build vm && integration

package proxy_test

import (
	"fmt"
	"runtime"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/vishvananda/netns"
)

// newNetns creates a network namespace (closed when the test ends; the kernel frees it with its
// last reference) without leaving the calling thread in it.
func newNetns(t testing.TB) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("current netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		// This thread is stuck in ns; keep it locked so the runtime discards it.
		runtime.LockOSThread()
		t.Fatalf("back to the original netns: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// inNetns runs fn on a thread in ns; sockets fn opens stay in ns.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		runtime.LockOSThread() // stuck in ns: let the runtime discard this thread
		return fmt.Errorf("leave netns: %w", err)
	}
	return fnErr
}

// scaleServices returns count ClusterIP Services web-0, web-1, ... on VIPs 10.96.0.0, 10.96.0.1, ...
// (port 80 → 8080).
func scaleServices(count int) []*v1.Service {
	var out []*v1.Service
	for i := range count {
		s := webService(fmt.Sprintf("10.%d.%d.%d", 96+i/65536, i/256%256, i%256))
		s.Name = fmt.Sprintf("web-%d", i)
		out = append(out, s)
	}
	return out
}

// scaleSlices returns one EndpointSlice per Service with per ready endpoints.
func scaleSlices(svcs []*v1.Service, per int) []*discovery.EndpointSlice {
	var out []*discovery.EndpointSlice
	for i, s := range svcs {
		var ips []string
		for j := range per {
			ips = append(ips, fmt.Sprintf("10.%d.%d.%d", 128+i/65536, i/256%256, j+1))
		}
		sl := webSlice(ips...)
		sl.Name = s.Name + "-abc"
		sl.Labels[discovery.LabelServiceName] = s.Name
		out = append(out, sl)
	}
	return out
}
