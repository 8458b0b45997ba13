//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// spProbe is a container script that reports the container's seccomp mode
// and tries unshare(CLONE_NEWUSER), which needs no capability but is
// outside the default profile, and mkdir, which the default profile allows.
// It ends its report with "sp-done".
const spProbe = `grep '^Seccomp:' /proc/self/status; ` +
	`if unshare -U true 2>/tmp/err; then echo unshare=ok; else echo "unshare=failed: $(cat /tmp/err)"; fi; ` +
	`if mkdir /tmp/sp-dir 2>/tmp/err; then echo mkdir=ok; else echo "mkdir=failed: $(cat /tmp/err)"; fi; ` +
	`echo sp-done; sleep 3600`

const spEPERM = "Operation not permitted"

// spContainer is a busybox container running spProbe with seccompProfile
// profile ("" for none), as YAML below a pod's containers.
func spContainer(name, profile string) string {
	c := fmt.Sprintf("  - name: %s\n    image: %s\n    command: [\"sh\", \"-c\", %q]\n", name, busybox, spProbe)
	if profile != "" {
		c += "    securityContext:\n      seccompProfile: " + profile + "\n"
	}
	return c
}

// spPod is a pod of containers with the pod-level seccompProfile profile
// ("" for none).
func spPod(name, profile, containers string) string {
	sc := ""
	if profile != "" {
		sc = "  securityContext:\n    seccompProfile: " + profile + "\n"
	}
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  terminationGracePeriodSeconds: 1\n%s  containers:\n%s",
		name, sc, containers)
}

// spReport waits for the report of spProbe in the container's log and
// returns its lines by key: "Seccomp", "unshare", "mkdir".
func spReport(t *testing.T, a *agent, pod, ctr string) map[string]string {
	t.Helper()
	c := a.waitContainer(pod, ctr, startTimeout, running)
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(readLog(c.LogPath), "sp-done") {
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s never reported; log:\n%s", pod, ctr, readLog(c.LogPath))
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := map[string]string{}
	for _, line := range strings.Split(readLog(c.LogPath), "\n") {
		// CRI log lines: time stream tag message.
		fields := strings.SplitN(line, " ", 4)
		if len(fields) < 4 {
			continue
		}
		msg := fields[3]
		if k, v, ok := strings.Cut(msg, ":"); ok && k == "Seccomp" {
			out[k] = strings.TrimSpace(v)
		} else if k, v, ok := strings.Cut(msg, "="); ok {
			out[k] = v
		}
	}
	return out
}

// spExpect checks a report: the seccomp mode (0 none, 2 filter) and
// whether unshare and mkdir failed, and then with EPERM.
func spExpect(t *testing.T, who string, got map[string]string, mode string, unshareBlocked, mkdirBlocked bool) {
	t.Helper()
	t.Logf("%s: %v", who, got)
	if got["Seccomp"] != mode {
		t.Errorf("%s: /proc/self/status Seccomp %q, want %q (report %v)", who, got["Seccomp"], mode, got)
	}
	for call, blocked := range map[string]bool{"unshare": unshareBlocked, "mkdir": mkdirBlocked} {
		switch {
		case blocked && !(strings.HasPrefix(got[call], "failed:") && strings.Contains(got[call], spEPERM)):
			t.Errorf("%s: %s: %q, want it to fail with EPERM (%s)", who, call, got[call], spEPERM)
		case !blocked && got[call] != "ok":
			t.Errorf("%s: %s: %q, want ok", who, call, got[call])
		}
	}
}

// spHostSeccomp is the Seccomp mode of a host process.
func spHostSeccomp(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Seccomp line in /proc/%d/status", pid)
	return ""
}

// TestSeccompDefault checks that a container that asks for no profile runs
// under RuntimeDefault (kubelet-lite's --seccomp-default is on): unshare
// fails with EPERM, mkdir works; one that asks for Unconfined has no
// filter and its unshare of a user namespace works. The pod's sandbox runs
// under the default profile too.
func TestSeccompDefault(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("sp-default", spPod("sp-default", "",
		spContainer("plain", "")+spContainer("free", "{type: Unconfined}")))
	spExpect(t, "no profile", spReport(t, a, "sp-default", "plain"), "2", true, false)
	spExpect(t, "Unconfined", spReport(t, a, "sp-default", "free"), "0", false, false)
	p, _ := a.pod("sp-default")
	if got := spHostSeccomp(t, p.SandboxPID); got != "2" {
		t.Errorf("sandbox process %d: Seccomp %q, want 2 (filtered)", p.SandboxPID, got)
	}
}

// TestSeccompDefaultOff checks --seccomp-default=false: a container that
// asks for no profile is Unconfined, one that asks for RuntimeDefault is not.
func TestSeccompDefaultOff(t *testing.T) {
	a := newAgent(t, "--seccomp-default=false")
	a.start()
	a.writePod("sp-off", spPod("sp-off", "",
		spContainer("plain", "")+spContainer("confined", "{type: RuntimeDefault}")))
	spExpect(t, "no profile", spReport(t, a, "sp-off", "plain"), "0", false, false)
	spExpect(t, "RuntimeDefault", spReport(t, a, "sp-off", "confined"), "2", true, false)
}

// TestSeccompLocalhost checks Localhost profiles read from the profile root
// (<root-dir>/seccomp by default): a pod-level profile that blocks mkdir
// applies to the container that asks for nothing, a container-level
// RuntimeDefault beats it; a missing or invalid profile keeps the container
// waiting with CreateContainerError and an event, and the agent runs on.
func TestSeccompLocalhost(t *testing.T) {
	a := newAgent(t)
	dir := filepath.Join(a.root, "seccomp", "team")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"nomkdir.json": `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`,
		"broken.json":  `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a.start()
	a.writePod("sp-local", spPod("sp-local", "{type: Localhost, localhostProfile: team/nomkdir.json}",
		spContainer("local", "")+spContainer("rtdefault", "{type: RuntimeDefault}")))
	a.writePod("sp-missing", spPod("sp-missing", "", spContainer("app", "{type: Localhost, localhostProfile: team/missing.json}")))
	a.writePod("sp-broken", spPod("sp-broken", "", spContainer("app", "{type: Localhost, localhostProfile: team/broken.json}")))

	// The Localhost profile allows unshare (defaultAction ALLOW) and blocks mkdir.
	spExpect(t, "pod Localhost", spReport(t, a, "sp-local", "local"), "2", false, true)
	spExpect(t, "container RuntimeDefault", spReport(t, a, "sp-local", "rtdefault"), "2", true, false)

	for pod, want := range map[string]string{
		"sp-missing": `seccomp profile "team/missing.json"`,
		"sp-broken":  `seccomp profile "team/broken.json"`,
	} {
		spWaitCreateError(t, a, pod, want)
	}
	if !a.alive() {
		t.Fatalf("agent died\n%s", a.log())
	}
}

// spWaitCreateError waits until pod's only container is reported waiting
// with CreateContainerError saying want, and the agent logged the event.
func spWaitCreateError(t *testing.T, a *agent, pod, want string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		p, _ := a.pod(pod)
		var w *corev1.ContainerStateWaiting
		if p.Status != nil && len(p.Status.ContainerStatuses) == 1 {
			w = p.Status.ContainerStatuses[0].State.Waiting
		}
		if w != nil && w.Reason == "CreateContainerError" && strings.Contains(w.Message, want) {
			if len(p.Containers) != 0 {
				t.Errorf("%s: runtime has containers %+v, want none", pod, p.Containers)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %+v, want container waiting with CreateContainerError saying %q\n%s", pod, p.Status, want, a.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, line := range strings.Split(readLog(filepath.Join(a.dir, "agent.log")), "\n") {
		if strings.Contains(line, `reason="Failed"`) && strings.Contains(line, strings.ReplaceAll(want, `"`, `\"`)) {
			return
		}
	}
	t.Errorf("%s: no Failed event saying %q in the agent log\n%s", pod, want, a.log())
}
