//go:build integration

package prober

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"golang.org/x/sys/unix"
)

// testNetns creates a network namespace with loopback up on a thread that
// stays in it until the test ends, and listens on 127.0.0.1 there. It
// returns the thread's ID (its /proc/<tid>/ns/net is the namespace) and
// the listener.
func testNetns(t *testing.T) (int, net.Listener) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("netns tests need root")
	}
	type result struct {
		tid int
		l   net.Listener
		err error
	}
	ready := make(chan result, 1)
	stop := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		tid, l, err := enterNewNetns()
		ready <- result{tid, l, err}
		<-stop
	}()
	r := <-ready
	t.Cleanup(func() {
		if r.l != nil {
			r.l.Close()
		}
		close(stop)
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.tid, r.l
}

func enterNewNetns() (int, net.Listener, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return 0, nil, fmt.Errorf("unshare netns: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return 0, nil, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return 0, nil, fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return 0, nil, fmt.Errorf("lo up: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	return unix.Gettid(), l, nil
}

func serve(t *testing.T, l net.Listener, body string) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func TestNetnsDialer(t *testing.T) {
	tid, inside := testNetns(t)
	serve(t, inside, "inside")
	port := inside.Addr().(*net.TCPAddr).Port
	// The host's loopback serves something else on the same port if it
	// is free there, and a port of its own that the pod does not have.
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		serve(t, l, "outside")
	}
	hostOnly, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, hostOnly, "outside")
	hostPort := hostOnly.Addr().(*net.TCPAddr).Port

	pn := PodNetwork{Dialer: NetnsDialer(tid)}
	c := &corev1.Container{Name: "app"}
	tests := []struct {
		name    string
		handler corev1.ProbeHandler
		want    outcome
	}{
		{"http inside the pod", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(port))}},
			outcome{status: Success, msg: "inside"}},
		{"tcp inside the pod", corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}},
			outcome{status: Success}},
		{"a host port is not in the pod", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(hostPort))}},
			outcome{status: Failure, msg: fmt.Sprintf("Get \"http://127.0.0.1:%d/\": dial tcp 127.0.0.1:%d: connect: connection refused", hostPort, hostPort)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 10 { // many dials: no thread may stay in the pod's namespace
				got, err := runProbe(context.Background(), target{podUID: "uid", container: c, net: pn}, &tc.handler, 2*time.Second)
				if err != nil || got != tc.want {
					t.Fatalf("runProbe = %+v, %v; want %+v", got, err, tc.want)
				}
			}
		})
	}
	t.Run("no other thread is left in the pod's namespace", func(t *testing.T) {
		podNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", tid))
		if err != nil {
			t.Fatal(err)
		}
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, f := range tasks {
			ns, err := os.Readlink(f)
			if err == nil && ns == podNS && f != fmt.Sprintf("/proc/self/task/%d/ns/net", tid) {
				t.Errorf("thread %s is in the pod's namespace %s", f, ns)
			}
		}
	})
	t.Run("a gone process", func(t *testing.T) {
		_, err := NetnsDialer(1<<22+1).DialContext(context.Background(), "tcp", "127.0.0.1:1")
		if err == nil {
			t.Error("dial into a missing process's namespace: no error")
		}
	})
}
