//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// sectest is the image with test/images/sectest at /bin/sectest and a
// setuid-root copy at /bin/sectest-suid; its user app (1000) is a member of
// staff (50).
const sectest = "kubelet-lite.local/sectest:v1"

// scAgent is a started agent that also has the sectest image.
func scAgent(t *testing.T, args ...string) *agent {
	t.Helper()
	a := newAgent(t, args...)
	a.run("images", "--root-dir", a.root, "import", filepath.Join(requireEnv(t, "KL_IMAGES"), "sectest.tar"))
	a.start()
	return a
}

// scPod is a sectest pod manifest: spec holds the pod-level fields and
// containers, indented as under spec.
func scPod(name, spec string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 1\n%s", name, spec)
}

// scContainer is a sectest container running script, then sleeping, with
// extra lines (e.g. a securityContext) indented under it.
func scContainer(name, script, extra string) string {
	return fmt.Sprintf("  - name: %s\n    image: %s\n    command: [\"sh\", \"-c\", %q]\n%s", name, sectest, script+"\necho DONE; sleep 3600", extra)
}

// scOutput waits until the container's log says DONE and returns its lines
// (the CRI prefix removed).
func scOutput(t *testing.T, a *agent, pod, ctr string) []string {
	t.Helper()
	c := a.waitContainer(pod, ctr, startTimeout, running)
	deadline := time.Now().Add(startTimeout)
	for {
		var lines []string
		for _, l := range strings.Split(readLog(c.LogPath), "\n") {
			if f := strings.SplitN(l, " ", 4); len(f) == 4 {
				lines = append(lines, f[3])
			}
		}
		if len(lines) > 0 && lines[len(lines)-1] == "DONE" {
			return lines[:len(lines)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s never printed DONE; log:\n%s", pod, ctr, strings.Join(lines, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scExpect checks that every wanted line is in got.
func scExpect(t *testing.T, who string, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("%s: no line %q in\n%s", who, w, strings.Join(got, "\n"))
		}
	}
}

// scPtraceLoop attaches to a process of uid 1000 once one runs.
const scPtraceLoop = `for i in $(seq 150); do out=$(sectest ptrace-uid 1000); case $out in *"no process"*) sleep 0.2;; *) break;; esac; done; echo "$out"`

// TestSecurityDefaultPodWalls: a default (root, unprivileged) container
// cannot make namespaces, mount, reboot, load a kernel module, add a key
// (keyctl, stopped by the default seccomp profile) or ptrace
// another user's process; /proc/kcore, /proc/sysrq-trigger and
// /sys/firmware are masked or read-only. A second container that adds
// CAP_SYS_PTRACE can ptrace the same process, so the first one's EPERM is
// the capability wall. Every attempt is harmless where a wall is missing
// (see test/images/sectest).
func TestSecurityDefaultPodWalls(t *testing.T) {
	a := scAgent(t)
	script := `sectest try unshare-net mount-tmpfs reboot init-module keyctl
` + scPtraceLoop + `
unshare -n true 2>/dev/null && echo "busybox unshare -n: ok" || echo "busybox unshare -n: failed"
mkdir -p /tmp/m; mount -t tmpfs tmpfs /tmp/m 2>/dev/null && echo "busybox mount: ok" || echo "busybox mount: failed"
echo "kcore bytes: $(head -c 16 /proc/kcore | wc -c)"
(echo h >/proc/sysrq-trigger) 2>/dev/null && echo "sysrq-trigger write: ok" || echo "sysrq-trigger write: failed"
echo "firmware entries: $(ls -A /sys/firmware | wc -l)"
touch /sys/firmware/x 2>/dev/null && echo "firmware touch: ok" || echo "firmware touch: failed"
echo "CapEff: $(grep CapEff /proc/self/status | cut -f2)"
grep NoNewPrivs /proc/self/status`
	a.writePod("walls", scPod("walls", "  shareProcessNamespace: true\n  containers:\n"+
		scContainer("app", script, "")+
		scContainer("victim", "", "    securityContext: {runAsUser: 1000}\n")+
		scContainer("tracer", scPtraceLoop, "    securityContext: {capabilities: {add: [SYS_PTRACE]}}\n")))
	got := scOutput(t, a, "walls", "app")
	want := 0 // runc masks the paths this kernel has
	for _, p := range []string{"/proc/kcore", "/sys/firmware"} {
		if _, err := os.Stat(p); err == nil {
			want++
		}
	}
	if n := scMasked(t, a, "walls", "app"); n != want || want == 0 {
		t.Errorf("%d mounts over /proc/kcore and /sys/firmware in a default container, want %d (>0)", n, want)
	}
	// init_module and keyctl are stopped by the default seccomp profile
	// (--seccomp-default is on) before the kernel looks further: EPERM even
	// on this host's kernel, which has no module support at all.
	scExpect(t, "default container", got, "init-module: EPERM", "keyctl: EPERM",
		"unshare-net: EPERM", "mount-tmpfs: EPERM", "reboot: EPERM", "ptrace: EPERM",
		"busybox unshare -n: failed", "busybox mount: failed", "kcore bytes: 0", "sysrq-trigger write: failed",
		"firmware entries: 0", "firmware touch: failed",
		// containerd's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
		// net_bind_service net_raw sys_chroot mknod audit_write setfcap.
		"CapEff: 00000000a80425fb", "NoNewPrivs:\t0")
	scExpect(t, "container with SYS_PTRACE", scOutput(t, a, "walls", "tracer"), "ptrace: ok")
}

// TestSecurityReadOnlyRootAndNoNewPrivs: readOnlyRootFilesystem makes "/"
// unwritable (volumes stay writable); with allowPrivilegeEscalation false a
// setuid-root binary runs with the caller's euid, and without it the same
// binary gets euid 0 (so the wall, not the image, makes the difference).
func TestSecurityReadOnlyRootAndNoNewPrivs(t *testing.T) {
	a := scAgent(t)
	a.writePod("ro", scPod("ro", `  volumes: [{name: scratch, emptyDir: {}}]
  containers:
`+scContainer("ro", "sectest write /x; sectest write /scratch/x", `    securityContext: {readOnlyRootFilesystem: true}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
`)+scContainer("nnp", "sectest-suid ids; grep NoNewPrivs /proc/self/status",
		"    securityContext: {runAsUser: 1000, allowPrivilegeEscalation: false}\n")+
		scContainer("escalates", "sectest-suid ids", "    securityContext: {runAsUser: 1000}\n")))
	scExpect(t, "read-only rootfs", scOutput(t, a, "ro", "ro"), "write /x: EROFS", "write /scratch/x: ok")
	scExpect(t, "allowPrivilegeEscalation false", scOutput(t, a, "ro", "nnp"), "uid=1000 euid=1000 gid=1000 groups=50", "NoNewPrivs:\t1")
	scExpect(t, "escalation allowed", scOutput(t, a, "ro", "escalates"), "uid=1000 euid=0 gid=1000 groups=50")
}

// TestSecurityUsersAndFSGroup: runAsUser, runAsGroup, supplementalGroups
// and fsGroup give the process its ids (plus the image's /etc/group
// memberships), and a file written in an fsGroup emptyDir is group-owned by
// that GID on the host, in a setgid, group-writable directory.
func TestSecurityUsersAndFSGroup(t *testing.T) {
	a := scAgent(t)
	a.writePod("ids", scPod("ids", `  securityContext: {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000], fsGroup: 2000}
  volumes: [{name: data, emptyDir: {}}]
  containers:
`+scContainer("app", "sectest ids; touch /data/f && echo written", "    volumeMounts: [{name: data, mountPath: /data}]\n")))
	scExpect(t, "ids", scOutput(t, a, "ids", "app"), "uid=1000 euid=1000 gid=3000 groups=50,2000,4000", "written")
	p, _ := a.pod("ids")
	dir := filepath.Join(a.root, "pods", p.UID, "volumes", "kubernetes.io~empty-dir", "data")
	for path, wantMode := range map[string]os.FileMode{dir: os.ModeDir | os.ModeSetgid | 0o777, filepath.Join(dir, "f"): 0} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Gid != 2000 || (wantMode != 0 && fi.Mode() != wantMode) {
			t.Errorf("%s on the host: uid %d gid %d mode %s; want gid 2000 (mode %s)", path, st.Uid, st.Gid, fi.Mode(), wantMode)
		}
	}

	a.writePod("nonroot", scPod("nonroot", "  securityContext: {runAsNonRoot: true}\n  containers:\n"+scContainer("app", "id", "")))
	scWaitWaiting(t, a, "nonroot", "app", "CreateContainerConfigError", "container has runAsNonRoot and image will run as root")
	if !a.alive() {
		t.Fatal("agent died")
	}
	if ev := `reason="Failed" message="Error: container \"app\": container has runAsNonRoot and image will run as root`; !strings.Contains(a.log(), ev) {
		t.Errorf("no event %s in the agent's log", ev)
	}
	// The image's user by name is resolved in its /etc/passwd.
	a.writePod("named", scPod("named", "  securityContext: {runAsNonRoot: true}\n  containers:\n"+
		scContainer("app", "sectest ids", "    securityContext: {runAsUser: 1000, runAsGroup: 1000}\n")))
	scExpect(t, "runAsNonRoot with runAsUser 1000", scOutput(t, a, "named", "app"), "uid=1000 euid=1000 gid=1000 groups=50")
}

// scMasked counts the mounts over /proc/kcore and /sys/firmware in the
// container's mount namespace.
func scMasked(t *testing.T, a *agent, pod, ctr string) int {
	t.Helper()
	c := a.waitContainer(pod, ctr, startTimeout, running)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", c.PID))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == "/proc/kcore" || f[4] == "/sys/firmware") {
			n++
		}
	}
	return n
}

// scWaitWaiting waits until the container waits with reason and a message
// containing msg.
func scWaitWaiting(t *testing.T, a *agent, pod, ctr, reason, msg string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p, ok := a.pod(pod)
		if !ok || p.Status == nil {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == ctr && cs.State.Waiting != nil {
				w := cs.State.Waiting
				last = w.Reason + ": " + w.Message
				if w.Reason == reason && strings.Contains(w.Message, msg) {
					return
				}
			}
		}
	}
	t.Fatalf("%s/%s never waited with %s %q; last %q\n%s", pod, ctr, reason, msg, last, a.log())
}

// scWaitRefused waits until the pod is Failed with reason and a message
// containing msg, with no container started.
func scWaitRefused(t *testing.T, a *agent, pod, reason, msg string) {
	t.Helper()
	var last podState
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p, ok := a.pod(pod)
		last = p
		if ok && p.Status != nil && p.Status.Phase == corev1.PodFailed {
			if p.Status.Reason != reason || !strings.Contains(p.Status.Message, msg) || len(p.Containers) != 0 {
				t.Errorf("%s: reason %q message %q containers %d; want %s saying %q, nothing started",
					pod, p.Status.Reason, p.Status.Message, len(p.Containers), reason, msg)
			}
			return
		}
	}
	t.Fatalf("%s never refused: %+v\n%s", pod, last, a.log())
}

// TestSecurityRefusalsAndSysctls: without --allow-privileged a privileged
// pod is refused, as are an unsafe sysctl, a net sysctl with hostNetwork and
// procMount Unmasked in the host's user namespace; safe sysctls are set in
// the pod's namespaces and not on the host.
func TestSecurityRefusalsAndSysctls(t *testing.T) {
	a := scAgent(t)
	a.writePod("priv", scPod("priv", "  containers:\n"+scContainer("app", "", "    securityContext: {privileged: true}\n")))
	a.writePod("unsafe", scPod("unsafe", "  securityContext: {sysctls: [{name: net.core.somaxconn, value: \"1024\"}]}\n  containers:\n"+scContainer("app", "", "")))
	a.writePod("hostnet", scPod("hostnet", "  hostNetwork: true\n  securityContext: {sysctls: [{name: net.ipv4.tcp_syncookies, value: \"1\"}]}\n  containers:\n"+scContainer("app", "", "")))
	a.writePod("unmasked", scPod("unmasked", "  containers:\n"+scContainer("app", "", "    securityContext: {procMount: Unmasked}\n")))
	a.writePod("sysctl", scPod("sysctl", `  securityContext:
    sysctls:
    - {name: net.ipv4.ip_local_port_range, value: "20000 20100"}
    - {name: kernel.shm_rmid_forced, value: "1"}
  containers:
`+scContainer("app", `echo "ports: $(cat /proc/sys/net/ipv4/ip_local_port_range)"; echo "shm_rmid_forced: $(cat /proc/sys/kernel/shm_rmid_forced)"`, "")))
	scWaitRefused(t, a, "priv", "Forbidden", "specified privileged container, but is disallowed")
	scWaitRefused(t, a, "unsafe", "SysctlForbidden", `forbidden sysctl: "net.core.somaxconn" not allowlisted`)
	scWaitRefused(t, a, "hostnet", "SysctlForbidden", `"net.ipv4.tcp_syncookies" not allowed with host net enabled`)
	scWaitRefused(t, a, "unmasked", "Forbidden", "`hostUsers` must be false to use `Unmasked`")
	scExpect(t, "safe sysctls", scOutput(t, a, "sysctl", "app"), "ports: 20000\t20100", "shm_rmid_forced: 1")
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); strings.Fields(string(b))[0] == "20000" {
		t.Errorf("the host's ip_local_port_range changed: %q", b)
	}
}

// TestSecurityAllowed: with --allow-privileged and --allowed-unsafe-sysctls
// a privileged container runs with every capability, no masked paths, a
// writable /sys and the host's devices, and the allowed unsafe sysctl is
// set in the pod. Nothing is written to /sys or a device.
func TestSecurityAllowed(t *testing.T) {
	a := scAgent(t, "--allow-privileged", "--allowed-unsafe-sysctls", "net.core.somaxconn,kernel.msg*")
	a.writePod("priv", scPod("priv", `  securityContext: {sysctls: [{name: net.core.somaxconn, value: "1234"}]}
  containers:
`+scContainer("app", `grep -E 'Cap(Bnd|Eff)|Seccomp:' /proc/self/status | tr '\t' ' '
echo "masked mounts: $(grep -c -e ' /proc/kcore ' -e ' /sys/firmware ' /proc/self/mountinfo)"
grep ' /sys sysfs ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1
test -c /dev/kmsg && echo "host devices"
echo "somaxconn: $(cat /proc/sys/net/core/somaxconn)"`, "    securityContext: {privileged: true}\n")+
		scContainer("plain", `sectest try mount-tmpfs; echo "somaxconn: $(cat /proc/sys/net/core/somaxconn)"; grep Seccomp: /proc/self/status | tr '\t' ' '`, "")))
	caps := "000001ffffffffff"
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "CapBnd:\t"); ok {
				caps = v // the host's bounding set: what the kernel has
			}
		}
	}
	// A privileged container runs without a seccomp filter, as under
	// containerd's CRI; the one beside it has the default profile.
	scExpect(t, "privileged", scOutput(t, a, "priv", "app"), "CapBnd: "+caps, "CapEff: "+caps,
		"masked mounts: 0", "rw", "host devices", "somaxconn: 1234", "Seccomp: 0")
	scExpect(t, "unprivileged beside it", scOutput(t, a, "priv", "plain"), "mount-tmpfs: EPERM", "somaxconn: 1234", "Seccomp: 2")
}
