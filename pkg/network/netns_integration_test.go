//go:build integration

package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Network namespaces for the tests. The host's root network namespace is never touched: the
// test makes a "node" namespace and runs every plugin there (see nodeExec), and each pod's
// namespace is another fresh one, which the bridge plugin joins to the node's by a veth pair.
//
// A network namespace belongs to an OS thread, not to a process: setns changes only the calling
// thread's. So everything here that must act in a namespace runs on a goroutine locked to its
// thread (runtime.LockOSThread) for the duration, and a thread whose namespace could not be
// restored is never unlocked, which makes the Go runtime end it with the goroutine instead of
// handing it to other goroutines in the wrong namespace.

// newNetNS makes a network namespace and pins it at dir/name with PinNetNS (as `ip netns add`
// does under /run/netns); the returned path is what CNI gets as the netns. The cleanup unpins
// it, which lets the kernel destroy it with everything in it once nothing else holds it.
func newNetNS(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	errc := make(chan error, 1)
	go func() {
		// The thread goes back to its namespace before it is unlocked (see inNetNS); it is not
		// left to end with the goroutine, as the Go runtime parks the main thread instead, which
		// would leave /proc/self/ns/net naming this namespace.
		runtime.LockOSThread()
		own, err := os.Open(threadNetNS)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer own.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		err = PinNetNS(threadNetNS, path)
		if err == nil {
			var lo netlink.Link
			if lo, err = netlink.LinkByName("lo"); err == nil {
				err = netlink.LinkSetUp(lo)
			}
		}
		if serr := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); serr != nil {
			errc <- fmt.Errorf("restore netns: %w", serr) // left locked: the thread ends
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	err := <-errc
	t.Cleanup(func() { removeNetNS(t, path) })
	if err != nil {
		t.Fatalf("new netns %s: %v", path, err)
	}
	return path
}

// removeNetNS unpins a namespace that newNetNS pinned.
func removeNetNS(t *testing.T, path string) {
	t.Helper()
	if err := UnpinNetNS(path); err != nil {
		t.Error(err)
	}
}

// inNetNS runs fn on a thread in the namespace at path. Sockets made in fn belong to that
// namespace for their whole life, so a listener made here may be used from anywhere after.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(threadNetNS)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Left locked: the thread ends with this goroutine.
			errc <- fmt.Errorf("restore netns: %w (fn: %v)", err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// nodeExec runs the plugins in the node's namespace: each ExecPlugin forks the plugin from a
// thread that inNetNS has put there, and a forked child starts in its parent thread's
// namespaces. So bridge's cni0, its gateway address, the routes, the masquerade and portmap
// rules (the plugins exec nft, which inherits the same) all land in the node namespace. This was
// chosen over `nsenter --net=PATH plugin` because it needs no other binary and keeps libcni's
// own RawExec (environment, stdin, error decoding) unchanged; only the fork's thread differs.
type nodeExec struct {
	*invoke.DefaultExec
	netns string
}

func (e nodeExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	var out []byte
	err := inNetNS(e.netns, func() error {
		var err error
		out, err = e.DefaultExec.ExecPlugin(ctx, pluginPath, stdin, environ)
		return err
	})
	return out, err
}

// guardRootNetNS fails the test at its end when the host's own namespace gained a cni0, the
// link that a bridge plugin run in the wrong namespace would make.
func guardRootNetNS(t *testing.T) {
	t.Helper()
	_, err := net.InterfaceByName(DefaultBridge)
	had := err == nil
	t.Cleanup(func() {
		if _, err := net.InterfaceByName(DefaultBridge); err == nil && !had {
			t.Errorf("the host's root network namespace gained %s: a bridge plugin ran outside the test's node namespace; remove it by hand (ip link del %s)", DefaultBridge, DefaultBridge)
		}
	})
}

// tcpFrom dials addr over TCP from inside netns and returns what the server sent.
func tcpFrom(netns, addr string) (string, error) {
	var got string
	err := inNetNS(netns, func() error {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	return strings.TrimSpace(got), err
}

// serveTCP listens on addr inside netns and answers each connection with the peer's IP, so a
// client learns which source address the server saw.
func serveTCP(t *testing.T, netns, addr string) {
	t.Helper()
	var l net.Listener
	if err := inNetNS(netns, func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, netns, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = c.Write([]byte(host + "\n"))
			c.Close()
		}
	}()
}

// udpRoundTrip listens on addr over UDP inside server, sends a datagram from inside client,
// and returns the source IP the server saw, which it echoes back as the reply.
func udpRoundTrip(t *testing.T, server, client, addr string) (string, error) {
	t.Helper()
	var pc net.PacketConn
	if err := inNetNS(server, func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo([]byte(host), from)
		}
	}()
	var got string
	err := inNetNS(client, func() error {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		// UDP may lose the first datagram while ARP resolves; send until a reply comes.
		for i := 0; i < 20; i++ {
			if _, err := c.Write([]byte("ping")); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := c.Read(buf)
			if err == nil {
				got = string(buf[:n])
				return nil
			}
		}
		return errors.New("no UDP reply")
	})
	return got, err
}

func hasAddr(link string, ip netip.Addr) error {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return err
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
			return nil
		}
	}
	return errors.New(link + " lacks " + ip.String())
}
