package podsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const webYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: kubelet-lite.local/busybox:v1
  - name: side
    image: example.org/tools
`

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadManifestDefaults(t *testing.T) {
	p := writeFile(t, t.TempDir(), "web.yaml", webYAML)
	pod, err := ReadManifest(p, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	again, err := ReadManifest(p, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ReadManifest(p, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", pod.Name, "web-node-a"},
		{"namespace", pod.Namespace, "default"},
		{"node", pod.Spec.NodeName, "node-a"},
		{"restart policy", pod.Spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"grace", *pod.Spec.TerminationGracePeriodSeconds, int64(30)},
		{"tagged image pull policy", pod.Spec.Containers[0].ImagePullPolicy, corev1.PullIfNotPresent},
		{"untagged image pull policy", pod.Spec.Containers[1].ImagePullPolicy, corev1.PullAlways},
		{"source annotation", pod.Annotations[ConfigSourceAnnotation], "file"},
		{"hash annotation", pod.Annotations[ConfigHashAnnotation], string(pod.UID)},
		{"uid length (md5 hex)", len(pod.UID), 32},
		{"same file same uid", again.UID, pod.UID},
		{"other node other uid", other.UID == pod.UID, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestReadManifestErrors(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"not yaml", "{{{", "decode"},
		{"wrong kind", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "kind Service is not a v1 Pod"},
		{"no containers", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n", "at least one container"},
		{"bad container name", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: Bad_Name, image: x:1}]}\n", `spec.containers[0].name "Bad_Name"`},
		{"duplicate names", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x:1}, {name: a, image: x:1}]}\n", "duplicate container name"},
		{"bad image reference", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: \"Bad Image!\"}]}\n", "spec.containers[0].image: "},
		{"no image", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n", "spec.containers[0].image: required"},
		{"bad restart policy", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Sometimes, containers: [{name: a, image: x:1}]}\n", `spec.restartPolicy "Sometimes"`},
		{"bad quantity", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x:1, resources: {limits: {cpu: lots}}}]}\n", "quantities must match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "p.yaml", tc.body)
			_, err := ReadManifest(p, "node-a")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestDirFollowsFiles writes, changes, breaks and removes manifests and
// checks the sets of pods the directory reports.
func TestDirFollowsFiles(t *testing.T) {
	dir := t.TempDir()
	updates := make(chan []*corev1.Pod, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &Dir{Path: dir, NodeName: "node-a", Resync: time.Hour}
	go func() { _ = d.Run(ctx, func(p []*corev1.Pod) { updates <- p }) }()
	next := func(want int) []*corev1.Pod {
		t.Helper()
		select {
		case pods := <-updates:
			if len(pods) != want {
				t.Fatalf("got %d pods, want %d", len(pods), want)
			}
			return pods
		case <-time.After(5 * time.Second):
			t.Fatalf("no update within 5s (want %d pods)", want)
			return nil
		}
	}
	next(0)
	writeFile(t, dir, "web.yaml", webYAML)
	first := next(1)[0]
	writeFile(t, dir, "web.yaml", strings.Replace(webYAML, "busybox:v1", "busybox:v2", 1))
	changed := next(1)[0]
	if changed.UID == first.UID {
		t.Errorf("a changed manifest kept UID %s", first.UID)
	}
	writeFile(t, dir, "broken.yaml", "kind: Pod\n  bad")
	writeFile(t, dir, ".hidden.yaml", webYAML)
	writeFile(t, dir, "db.yaml", strings.Replace(webYAML, "name: web", "name: db", 1))
	pods := next(2)
	names := []string{pods[0].Name, pods[1].Name}
	if !(names[0] == "db-node-a" && names[1] == "web-node-a") && !(names[0] == "web-node-a" && names[1] == "db-node-a") {
		t.Errorf("pods = %v, want db-node-a and web-node-a", names)
	}
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	if got := next(1)[0].Name; got != "db-node-a" {
		t.Errorf("after removing web.yaml: %s, want db-node-a", got)
	}
}

func TestDecodePodIsStrict(t *testing.T) {
	_, err := DecodePod([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x:1, imagee: y}]}\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.containers[0].imagee"`) {
		t.Fatalf("err = %v, want an unknown field error", err)
	}
}
