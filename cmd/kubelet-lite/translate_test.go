package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
)

// runTranslateCmd runs "translate args..." in-process and returns stdout.
func runTranslateCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newTranslateCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), err
}

// jsonEqual compares two JSON documents by value, so that the expected
// literals can be laid out for reading.
func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("expected literal is not JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTranslateJSON(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{
			// init setup 250m/32Mi, app 500m/64Mi: pod = max = 500m (512 shares, weight 59), 64Mi.
			name: "guaranteed",
			args: []string{"-f", "testdata/guaranteed.yaml", "-o", "json"},
			want: `{
			  "qosClass": "Guaranteed",
			  "pod": {"cgroup": "kubepods/pod11111111-1111-4111-8111-111111111111",
			    "files": {"cpu.max": "50000 100000", "cpu.weight": "59", "memory.max": "67108864", "pids.max": "4096"}},
			  "containers": [
			    {"name": "setup", "init": true, "cgroup": "kubepods/pod11111111-1111-4111-8111-111111111111/setup",
			     "files": {"cpu.max": "25000 100000", "cpu.weight": "35", "memory.max": "33554432", "memory.oom.group": "1"}},
			    {"name": "app", "init": false, "cgroup": "kubepods/pod11111111-1111-4111-8111-111111111111/app",
			     "files": {"cpu.max": "50000 100000", "cpu.weight": "59", "memory.max": "67108864", "memory.oom.group": "1"}}
			  ]}`,
		},
		{
			// sidecar log 100m + app 100m = 200m (204 shares, weight 29); no cpu limits, log has no memory limit.
			name: "burstable",
			args: []string{"-f", "testdata/burstable.yaml", "-o", "json"},
			want: `{
			  "qosClass": "Burstable",
			  "pod": {"cgroup": "kubepods/burstable/pod22222222-2222-4222-8222-222222222222",
			    "files": {"cpu.max": "max 100000", "cpu.weight": "29", "memory.max": "max", "pids.max": "4096"}},
			  "containers": [
			    {"name": "log", "init": true, "cgroup": "kubepods/burstable/pod22222222-2222-4222-8222-222222222222/log",
			     "files": {"cpu.max": "max 100000", "cpu.weight": "17", "memory.max": "max", "memory.oom.group": "1"}},
			    {"name": "app", "init": false, "cgroup": "kubepods/burstable/pod22222222-2222-4222-8222-222222222222/app",
			     "files": {"cpu.max": "max 100000", "cpu.weight": "17", "memory.max": "134217728", "memory.oom.group": "1"}}
			  ]}`,
		},
		{
			name: "besteffort",
			args: []string{"-f", "testdata/besteffort.yaml", "-o", "json"},
			want: `{
			  "qosClass": "BestEffort",
			  "pod": {"cgroup": "kubepods/besteffort/pod33333333-3333-4333-8333-333333333333",
			    "files": {"cpu.max": "max 100000", "cpu.weight": "1", "memory.max": "max", "pids.max": "4096"}},
			  "containers": [
			    {"name": "app", "init": false, "cgroup": "kubepods/besteffort/pod33333333-3333-4333-8333-333333333333/app",
			     "files": {"cpu.max": "max 100000", "cpu.weight": "1", "memory.max": "max", "memory.oom.group": "1"}}
			  ]}`,
		},
		{
			name: "pids limit -1 is max",
			args: []string{"-f", "testdata/besteffort.yaml", "-o", "json", "--pod-pids-limit", "-1"},
			want: `{
			  "qosClass": "BestEffort",
			  "pod": {"cgroup": "kubepods/besteffort/pod33333333-3333-4333-8333-333333333333",
			    "files": {"cpu.max": "max 100000", "cpu.weight": "1", "memory.max": "max", "pids.max": "max"}},
			  "containers": [
			    {"name": "app", "init": false, "cgroup": "kubepods/besteffort/pod33333333-3333-4333-8333-333333333333/app",
			     "files": {"cpu.max": "max 100000", "cpu.weight": "1", "memory.max": "max", "memory.oom.group": "1"}}
			  ]}`,
		},
		{
			name: "pids limit 0 leaves pids.max out",
			args: []string{"-f", "testdata/besteffort.yaml", "-o", "json", "--pod-pids-limit", "0"},
			want: `{
			  "qosClass": "BestEffort",
			  "pod": {"cgroup": "kubepods/besteffort/pod33333333-3333-4333-8333-333333333333",
			    "files": {"cpu.max": "max 100000", "cpu.weight": "1", "memory.max": "max"}},
			  "containers": [
			    {"name": "app", "init": false, "cgroup": "kubepods/besteffort/pod33333333-3333-4333-8333-333333333333/app",
			     "files": {"cpu.max": "max 100000", "cpu.weight": "1", "memory.max": "max", "memory.oom.group": "1"}}
			  ]}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTranslateCmd(t, tc.args...)
			if err != nil {
				t.Fatalf("translate: %v", err)
			}
			jsonEqual(t, out, tc.want)
		})
	}
}

func TestTranslateTree(t *testing.T) {
	out, err := runTranslateCmd(t, "-f", "testdata/guaranteed.yaml")
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	want := `QoS: Guaranteed
kubepods/pod11111111-1111-4111-8111-111111111111
  cpu.max = 50000 100000
  cpu.weight = 59
  memory.max = 67108864
  pids.max = 4096
  ├─ setup (init container)
  │  cpu.max = 25000 100000
  │  cpu.weight = 35
  │  memory.max = 33554432
  │  memory.oom.group = 1
  └─ app (container)
     cpu.max = 50000 100000
     cpu.weight = 59
     memory.max = 67108864
     memory.oom.group = 1
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// TestTranslateStaticPodUID checks that a manifest without metadata.uid
// gets the static pod UID of the node named by --hostname-override.
func TestTranslateStaticPodUID(t *testing.T) {
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\nspec:\n  containers:\n  - {name: app, image: nginx}\n"
	file := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	pod, err := podsource.DecodePod([]byte(manifest))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	uidA, uidB := podsource.StaticPodUID(pod, "node-a"), podsource.StaticPodUID(pod, "node-b")
	if uidA == uidB || len(uidA) != 32 {
		t.Fatalf("static pod UIDs %q and %q: want two different 32-digit hashes", uidA, uidB)
	}
	for node, uid := range map[string]string{"node-a": string(uidA), "node-b": string(uidB)} {
		out, err := runTranslateCmd(t, "-f", file, "-o", "json", "--hostname-override", node)
		if err != nil {
			t.Fatalf("translate: %v", err)
		}
		var got translateJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if want := "kubepods/besteffort/pod" + uid; got.Pod.Cgroup != want {
			t.Errorf("--hostname-override %s: pod cgroup %q, want %q", node, got.Pod.Cgroup, want)
		}
	}
}

func TestTranslateErrors(t *testing.T) {
	cases := []struct {
		name     string
		manifest string
		args     []string
		want     string
	}{
		{
			name:     "wrong kind",
			manifest: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
			want:     "kind Deployment is not a v1 Pod",
		},
		{
			name:     "unknown field",
			manifest: "apiVersion: v1\nkind: Pod\nmetadata: {name: web, uid: u1}\nspec:\n  containers:\n  - {name: app, imagee: nginx}\n",
			want:     `strict decoding error: unknown field "spec.containers[0].imagee"`,
		},
		{
			name:     "no apiVersion",
			manifest: "kind: Pod\nmetadata: {name: web}\n",
			want:     "Object 'apiVersion' is missing",
		},
		{
			name: "limit below request",
			manifest: "apiVersion: v1\nkind: Pod\nmetadata: {name: web, uid: u1}\nspec:\n  containers:\n  - name: app\n    image: nginx\n" +
				"    resources: {requests: {memory: 64Mi}, limits: {memory: 32Mi}}\n",
			want: `container "app": resources.limits.memory (32Mi) is below resources.requests.memory (64Mi)`,
		},
		{
			name:     "bad output format",
			manifest: "apiVersion: v1\nkind: Pod\nmetadata: {name: web, uid: u1}\nspec:\n  containers:\n  - {name: app, image: nginx}\n",
			args:     []string{"-o", "yaml"},
			want:     `output "yaml": must be tree or json`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "pod.yaml")
			if err := os.WriteFile(file, []byte(tc.manifest), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runTranslateCmd(t, append([]string{"-f", file}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("printed %q on error", out)
			}
		})
	}
}
