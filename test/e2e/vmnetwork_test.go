//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// vmnetPodCIDR is the pods' range of TestVMPodNetwork; the bridge's own
// address is its first.
const vmnetPodCIDR = "10.88.0.0/24"

// TestVMPodNetwork runs the standalone agent with the CNI bridge network in
// the node VM (never on the host: it makes cni0 in the root network
// namespace): pods get distinct IPs from --pod-cidr, reported in their
// status, reach each other over TCP and UDP, get /etc/hosts and
// /etc/resolv.conf from the agent, keep their IPs across an agent restart
// without an IP handed out twice, and give them back when removed. A pod
// reaches the node and the node a pod.
func TestVMPodNetwork(t *testing.T) {
	if os.Getenv("KL_NODEVM") == "" {
		t.Fatal("TestVMPodNetwork makes a bridge in the root network namespace: it runs only in the node VM (hack/test.sh's vm level)")
	}
	cniBin := requireEnv(t, "KL_CNI_BIN")
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniBin, p)); err != nil {
			t.Fatalf("CNI plugin %s: %v (hack/cni.sh builds them)", p, err)
		}
	}
	a := newAgent(t)
	a.extraArgs = []string{"--network-plugin", "cni", "--cni-bin-dir", cniBin,
		"--cni-conf-dir", filepath.Join(a.dir, "net.d"), "--pod-cidr", vmnetPodCIDR,
		"--cluster-dns", "10.96.0.10", "--cluster-domain", "kl.test"}
	a.start()

	// srv answers HTTP on 8080; cli's container is the TCP client, with
	// its busybox nc (this busybox's wget cannot run statically linked).
	a.writePod("srv", podYAML("srv", "Always", 1,
		container("http", "mkdir -p /tmp/www && echo tcp-hello >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www", "")))
	a.writePod("cli", podYAML("cli", "Always", 1, `  - name: app
    image: `+busybox+`
    command: ["sh", "-c", "echo podIP=$POD_IP; exec sleep 3600"]
    env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
`))
	srv := a.waitContainer("srv", "http", startTimeout, running)
	cli := a.waitContainer("cli", "app", startTimeout, running)
	srvIP, cliIP := vmnetPodIP(t, a, "srv"), vmnetPodIP(t, a, "cli")
	if srvIP == cliIP {
		t.Fatalf("both pods got %s", srvIP)
	}

	t.Run("TCP between pods", func(t *testing.T) {
		out := vmnetRetry(t, func() (string, error) {
			return a.nsenter(cli.PID, "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 `+srvIP.String()+` 8080`)
		}, "tcp-hello")
		t.Logf("cli -> srv over TCP: %q", strings.TrimSpace(out))
	})
	t.Run("UDP between pods", func(t *testing.T) {
		// busybox's nc has no UDP: the test's own sockets, one in each
		// pod's network namespace, talk over the bridge.
		addr := netip.AddrPortFrom(srvIP, 9090)
		stop := vmnetUDPEcho(t, srv.PID, addr)
		defer stop()
		vmnetRetry(t, func() (string, error) {
			return vmnetUDPAsk(cli.PID, addr, "udp-hello")
		}, "echo:udp-hello")
	})
	t.Run("node reaches a pod", func(t *testing.T) {
		client := &http.Client{Timeout: 5 * time.Second}
		vmnetRetry(t, func() (string, error) {
			resp, err := client.Get("http://" + srvIP.String() + ":8080/")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}, "tcp-hello")
	})
	t.Run("a pod reaches the node", func(t *testing.T) {
		// A listener of the test's own on the node's address, in the
		// guest's root network namespace; the pod's nc connects to it.
		ln, err := net.Listen("tcp", net.JoinHostPort(vmnetNodeIP(t), "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "node-hello from %s\n", c.RemoteAddr())
				c.Close()
			}
		}()
		out := vmnetRetry(t, func() (string, error) {
			return a.nsenter(cli.PID, "sh", "-c", "nc -w 5 "+strings.Replace(ln.Addr().String(), ":", " ", 1)+" </dev/null")
		}, "node-hello")
		// The node sees the pod's own address: no masquerade within the node.
		if !strings.Contains(out, "from "+cliIP.String()+":") {
			t.Errorf("the node saw the connection from elsewhere than cli's %s: %q", cliIP, out)
		}
		t.Logf("cli -> node: %q", strings.TrimSpace(out))
	})
	t.Run("env status.podIP", func(t *testing.T) {
		b, err := os.ReadFile(cli.LogPath)
		if want := "podIP=" + cliIP.String() + "\n"; err != nil || !strings.Contains(string(b), want) {
			t.Errorf("cli's log has no %q: %q, %v", want, b, err)
		}
	})
	t.Run("hosts and resolv.conf", func(t *testing.T) {
		hosts, err := a.nsenter(cli.PID, "cat", "/etc/hosts")
		if err != nil {
			t.Fatalf("cat /etc/hosts: %v: %s", err, hosts)
		}
		if want := cliIP.String() + "\tcli-" + a.node; !slices.Contains(strings.Split(hosts, "\n"), want) {
			t.Errorf("/etc/hosts of cli has no line %q:\n%s", want, hosts)
		}
		resolv, err := a.nsenter(cli.PID, "cat", "/etc/resolv.conf")
		if err != nil {
			t.Fatalf("cat /etc/resolv.conf: %v: %s", err, resolv)
		}
		for _, want := range []string{"nameserver 10.96.0.10", "search default.svc.kl.test svc.kl.test kl.test", "options ndots:5"} {
			if !slices.Contains(strings.Split(resolv, "\n"), want) && !strings.Contains(resolv, want) {
				t.Errorf("/etc/resolv.conf of cli has no %q:\n%s", want, resolv)
			}
		}
	})

	ipam := filepath.Join(a.root, "cni", "networks", "kubelet-lite")
	t.Run("agent restart hands out no IP twice", func(t *testing.T) {
		a.kill()
		a.start()
		a.writePod("third", podYAML("third", "Always", 1, container("app", "exec sleep 3600", "")))
		a.waitContainer("third", "app", startTimeout, running)
		thirdIP := vmnetPodIP(t, a, "third")
		if thirdIP == srvIP || thirdIP == cliIP {
			t.Errorf("third pod got %s, which srv (%s) or cli (%s) holds", thirdIP, srvIP, cliIP)
		}
		// The pods from before keep their addresses; the agent set them up again from its cache.
		deadline := time.Now().Add(startTimeout)
		for time.Now().Before(deadline) && (vmnetPodIP(t, a, "srv") != srvIP || vmnetPodIP(t, a, "cli") != cliIP) {
			time.Sleep(time.Second)
		}
		if got := vmnetPodIP(t, a, "srv"); got != srvIP {
			t.Errorf("srv's IP after the restart = %s, want %s", got, srvIP)
		}
		if got, want := vmnetAllocated(t, ipam), []string{cliIP.String(), srvIP.String(), thirdIP.String()}; !vmnetSameSet(got, want) {
			t.Errorf("host-local holds %v, want %v", got, want)
		}
	})
	t.Run("removed pods free their IPs", func(t *testing.T) {
		for _, p := range []string{"srv", "cli", "third"} {
			a.removePod(p)
		}
		for _, p := range []string{"srv", "cli", "third"} {
			a.waitGone(p, startTimeout)
		}
		if got := vmnetAllocated(t, ipam); len(got) > 0 {
			t.Errorf("host-local still holds %v after the pods were removed", got)
		}
		for _, d := range []string{filepath.Join(a.root, "netns"), filepath.Join(a.root, "cni", "cache", "results")} {
			if entries, _ := os.ReadDir(d); len(entries) > 0 {
				t.Errorf("%s still has %d entries after the pods were removed", d, len(entries))
			}
		}
	})

	t.Run("hostPort reaches a pod at the node's address; a second pod asking for it is rejected", func(t *testing.T) {
		a.writePod("hp", podYAML("hp", "Always", 1, `  - name: http
    image: `+busybox+`
    command: ["sh", "-c", "mkdir -p /tmp/www && echo hostport-hello >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
    ports: [{containerPort: 8080, hostPort: 18080}]
`))
		a.waitContainer("hp", "http", startTimeout, running)
		vmnetPodIP(t, a, "hp")
		nodeIP := vmnetNodeIP(t)
		client := &http.Client{Timeout: 5 * time.Second}
		vmnetRetry(t, func() (string, error) {
			resp, err := client.Get("http://" + net.JoinHostPort(nodeIP, "18080") + "/")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}, "hostport-hello")
		a.writePod("hp2", podYAML("hp2", "Always", 1, `  - name: http
    image: `+busybox+`
    command: ["sleep", "3600"]
    ports: [{containerPort: 8080, hostPort: 18080}]
`))
		deadline := time.Now().Add(startTimeout)
		var st string
		for time.Now().Before(deadline) {
			if p, ok := a.pod("hp2"); ok && p.Status != nil && p.Status.Phase == "Failed" {
				st = p.Status.Reason + ": " + p.Status.Message
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if !strings.Contains(st, "NodePorts") || !strings.Contains(st, "18080") {
			t.Errorf("second pod on host port 18080: status %q, want Failed with reason NodePorts naming the port", st)
		}
		a.removePod("hp")
		a.removePod("hp2")
		a.waitGone("hp", startTimeout)
		a.waitGone("hp2", startTimeout)
		if got := vmnetAllocated(t, ipam); len(got) > 0 {
			t.Errorf("host-local still holds %v after the hostPort pods were removed", got)
		}
	})
}

// vmnetNodeIP is the node's address towards the outside (no packet is sent).
func vmnetNodeIP(t *testing.T) string {
	t.Helper()
	c, err := net.Dial("udp", "10.0.2.2:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// vmnetPodIP waits for the pod's status to report one IP in vmnetPodCIDR as
// podIP and podIPs, and returns it.
func vmnetPodIP(t *testing.T, a *agent, pod string) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		if p, ok := a.pod(pod); ok && p.Status != nil && len(p.Status.PodIPs) > 0 {
			last = p.Status.PodIP
			ip, err := netip.ParseAddr(p.Status.PodIP)
			if err == nil && netip.MustParsePrefix(vmnetPodCIDR).Contains(ip) && p.Status.PodIPs[0].IP == p.Status.PodIP {
				return ip
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("pod %s reports no IP in %s (last podIP %q)\n%s", pod, vmnetPodCIDR, last, a.log())
	return netip.Addr{}
}

// vmnetRetry runs try until its output contains want, for startTimeout.
func vmnetRetry(t *testing.T, try func() (string, error), want string) string {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var out string
	var err error
	for time.Now().Before(deadline) {
		if out, err = try(); strings.Contains(out, want) {
			return out
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("no %q after %s: last output %q, err %v", want, startTimeout, out, err)
	return out
}

// vmnetAllocated lists the IPs host-local has handed out: its files named
// by an IP.
func vmnetAllocated(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			ips = append(ips, e.Name())
		}
	}
	return ips
}

func vmnetSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// vmnetInNetNS runs f on an OS thread in the network namespace of pid. The
// thread is never handed back to the Go runtime: it ends with f.
func vmnetInNetNS(pid int, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			done <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		done <- f()
	}()
	return <-done
}

// vmnetUDPEcho answers each datagram to addr, in pid's network namespace,
// with "echo:" and its content, until stop is called.
func vmnetUDPEcho(t *testing.T, pid int, addr netip.AddrPort) (stop func()) {
	t.Helper()
	conns := make(chan *net.UDPConn, 1)
	go func() {
		_ = vmnetInNetNS(pid, func() error {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
			conns <- c
			if err != nil {
				t.Errorf("listen UDP %s in pod: %v", addr, err)
				return err
			}
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return err
				}
				_, _ = c.WriteToUDPAddrPort(append([]byte("echo:"), buf[:n]...), from)
			}
		})
	}()
	c := <-conns
	return func() {
		if c != nil {
			c.Close()
		}
	}
}

// vmnetUDPAsk sends msg to addr from pid's network namespace and returns the
// answer.
func vmnetUDPAsk(pid int, addr netip.AddrPort, msg string) (string, error) {
	var answer string
	err := vmnetInNetNS(pid, func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		answer = string(buf[:n])
		return err
	})
	return answer, err
}
