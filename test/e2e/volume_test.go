//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestVolumes: an emptyDir shared by two containers, a hostPath and a
// downward API file hold what they should inside the pod; a pod with a
// volume type the node cannot make is refused.
func TestVolumes(t *testing.T) {
	a := newAgent(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "greeting"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.start()
	a.writePod("vols", `apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {tier: test}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: scratch, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
  - {name: host, hostPath: {path: `+host+`, type: Directory}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
  containers:
  - name: writer
    image: `+busybox+`
    command: ["sh", "-c", "echo written-by-writer > /shared/note; sleep 3600"]
    volumeMounts: [{name: shared, mountPath: /shared}, {name: scratch, mountPath: /scratch}]
  - name: reader
    image: `+busybox+`
    command: ["sh", "-c", "sleep 3600"]
    volumeMounts:
    - {name: shared, mountPath: /data, readOnly: true}
    - {name: host, mountPath: /host, readOnly: true}
    - {name: info, mountPath: /etc/podinfo}
`)
	reader := a.waitContainer("vols", "reader", startTimeout, running)
	writer := a.waitContainer("vols", "writer", startTimeout, running)
	want := map[string]string{
		"cat /data/note":             "written-by-writer",
		"cat /host/greeting":         "from the host",
		"cat /etc/podinfo/labels":    `tier="test"`,
		"cat /etc/podinfo/name":      "vols-" + a.node,
		"touch /data/x 2>&1 || true": "Read-only file system",
	}
	deadline := time.Now().Add(startTimeout)
	for cmd, w := range want {
		for {
			out, _ := a.nsenter(reader.PID, "sh", "-c", cmd)
			if strings.Contains(out, w) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s in reader: %q, want %q", cmd, out, w)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if out, _ := a.nsenter(writer.PID, "sh", "-c", "grep ' /scratch ' /proc/mounts"); !strings.Contains(out, "tmpfs") || !strings.Contains(out, "size=8192k") {
		t.Errorf("memory emptyDir mount: %q, want a tmpfs of 8Mi", out)
	}

	a.writePod("nfs", podYAML("nfs", "Always", 1, container("app", "sleep 3600", "")+
		"    volumeMounts: [{name: remote, mountPath: /remote}]\n  volumes:\n  - {name: remote, nfs: {server: 192.0.2.1, path: /export}}\n"))
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(200 * time.Millisecond) {
		p, ok := a.pod("nfs")
		if ok && p.Status != nil && p.Status.Phase == corev1.PodFailed {
			if p.Status.Reason != "UnsupportedVolume" || !strings.Contains(p.Status.Message, `volume "remote"`) {
				t.Errorf("nfs pod: %s %q, want UnsupportedVolume naming volume remote", p.Status.Reason, p.Status.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nfs pod never refused: %+v", p)
		}
	}
}
