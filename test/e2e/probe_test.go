//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestProbesAndHooks: a failing readiness probe turns the container not
// ready and back; a failing liveness probe restarts it; a postStart hook
// runs in the container. An exec probe starts a process through
// libcontainer, which takes seconds in the emulated node VM: the generous
// timeouts keep a slow probe from counting as a failed one.
func TestProbesAndHooks(t *testing.T) {
	a := newAgent(t)
	a.start()
	a.writePod("probed", `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: `+busybox+`
    command: ["sh", "-c", "touch /tmp/ready; exec sleep 3600"]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo hooked > /tmp/hook"]}
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
      timeoutSeconds: 30
    livenessProbe:
      exec: {command: ["sh", "-c", "test ! -f /tmp/dead"]}
      periodSeconds: 1
      timeoutSeconds: 30
      failureThreshold: 1
`)
	c := a.waitContainer("probed", "app", startTimeout, running)
	ready := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(startTimeout)
		for {
			p, _ := a.pod("probed")
			if p.Status != nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("container ready never became %v: %+v", want, p.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	ready(true)
	if out, err := a.nsenter(c.PID, "cat", "/tmp/hook"); err != nil || strings.TrimSpace(out) != "hooked" {
		t.Errorf("postStart hook output = %q, %v; want hooked", out, err)
	}
	if out, err := a.nsenter(c.PID, "rm", "/tmp/ready"); err != nil {
		t.Fatalf("rm: %v %s", err, out)
	}
	ready(false)
	if out, err := a.nsenter(c.PID, "touch", "/tmp/ready"); err != nil {
		t.Fatalf("touch: %v %s", err, out)
	}
	ready(true)
	if out, err := a.nsenter(c.PID, "touch", "/tmp/dead"); err != nil {
		t.Fatalf("touch: %v %s", err, out)
	}
	restarted := a.waitContainer("probed", "app", startTimeout, func(c containerState) bool { return c.Attempt == 1 && running(c) })
	if restarted.PID == c.PID {
		t.Errorf("liveness failure did not restart the container")
	}
}
