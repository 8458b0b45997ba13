package prober

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// NetnsDialer returns a Dialer whose connections are opened inside the
// network namespace of process pid (a pod's sandbox): each dial runs on
// an OS thread locked for it, which joins that namespace with setns(2)
// just for the socket() call and returns to its own namespace after. A
// thread that cannot return is never reused. Hosts must be IP addresses
// (name resolution would run in the agent's namespace).
func NetnsDialer(pid int) Dialer {
	return netnsDialer{path: "/proc/" + strconv.Itoa(pid) + "/ns/net"}
}

type netnsDialer struct{ path string }

func (d netnsDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, restored, err := dialIn(ctx, d.path, network, address)
		if restored {
			runtime.UnlockOSThread()
		} // else the thread ends with this goroutine
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// dialIn dials from the namespace at path on the current, locked thread;
// restored tells whether the thread is back in its own namespace.
func dialIn(ctx context.Context, path, network, address string) (conn net.Conn, restored bool, err error) {
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, true, fmt.Errorf("open own network namespace: %w", err)
	}
	defer own.Close()
	target, err := os.Open(path)
	if err != nil {
		return nil, true, fmt.Errorf("open pod network namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("enter pod network namespace %s: %w", path, err)
	}
	// The socket belongs to the namespace it was created in; the connect
	// may finish on the netpoller, but this goroutine stays on the thread.
	var d net.Dialer
	conn, err = d.DialContext(ctx, network, address)
	if serr := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); serr != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, false, fmt.Errorf("return from pod network namespace: %w", serr)
	}
	return conn, true, err
}
