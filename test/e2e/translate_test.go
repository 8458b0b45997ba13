//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
)

// translation mirrors what `kubelet-lite translate -o json` prints.
type translation struct {
	QOSClass string `json:"qosClass"`
	Pod      struct {
		Cgroup string            `json:"cgroup"`
		Files  map[string]string `json:"files"`
	} `json:"pod"`
	Containers []struct {
		Name   string            `json:"name"`
		Init   bool              `json:"init"`
		Cgroup string            `json:"cgroup"`
		Files  map[string]string `json:"files"`
	} `json:"containers"`
}

func translateFile(t *testing.T, bin string, args ...string) translation {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"translate", "-o", "json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("kubelet-lite translate %s: %v", strings.Join(args, " "), err)
	}
	var tr translation
	if err := json.Unmarshal(out, &tr); err != nil {
		t.Fatalf("translate -o json: %v\n%s", err, out)
	}
	return tr
}

// guaranteedPod is cmd/kubelet-lite/testdata/guaranteed.yaml, inline so that
// the test binary also runs where the repository is not (the node VM).
const guaranteedPod = `apiVersion: v1
kind: Pod
metadata:
  name: guaranteed
  uid: 11111111-1111-4111-8111-111111111111
spec:
  initContainers:
  - name: setup
    image: busybox
    resources:
      limits: {cpu: 250m, memory: 32Mi}
  containers:
  - name: app
    image: nginx
    resources:
      requests: {cpu: 500m, memory: 64Mi}
      limits: {cpu: 500m, memory: 64Mi}
`

// TestTranslateBinary runs the built binary's translate subcommand (no root
// needed): the command must not be caught by the binary's init modes.
func TestTranslateBinary(t *testing.T) {
	bin := requireEnv(t, "KL_BINARY")
	file := filepath.Join(t.TempDir(), "guaranteed.yaml")
	if err := os.WriteFile(file, []byte(guaranteedPod), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := translateFile(t, bin, "-f", file, "--pod-pids-limit", "64")
	if tr.QOSClass != "Guaranteed" || tr.Pod.Cgroup != "kubepods/pod11111111-1111-4111-8111-111111111111" {
		t.Errorf("qos %s, pod cgroup %s", tr.QOSClass, tr.Pod.Cgroup)
	}
	if got := tr.Pod.Files["pids.max"]; got != "64" {
		t.Errorf("pod pids.max = %q, want 64", got)
	}
	if len(tr.Containers) != 2 || tr.Containers[0].Name != "setup" || !tr.Containers[0].Init ||
		tr.Containers[1].Files["cpu.max"] != "50000 100000" {
		t.Errorf("containers = %+v", tr.Containers)
	}
}

// TestTranslateMatchesKernel runs a Burstable pod and checks that the agent
// put it in the cgroups translate names, and that every value translate
// predicts is what the kernel holds (on v1, through the v1 equivalents).
func TestTranslateMatchesKernel(t *testing.T) {
	a := newAgent(t, "--pod-pids-limit", "64")
	a.start()
	manifest := podYAML("predict", "Always", 1,
		container("app", "sleep 3600", "      requests: {cpu: 250m, memory: 32Mi}\n      limits: {cpu: 500m, memory: 64Mi}\n")+
			container("side", "sleep 3600", "      requests: {cpu: 100m}\n"))
	a.writePod("predict", manifest)
	file := filepath.Join(t.TempDir(), "predict.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := translateFile(t, a.bin, "-f", file, "--hostname-override", a.node, "--pod-pids-limit", "64")
	if tr.QOSClass != "Burstable" || len(tr.Containers) != 2 {
		t.Fatalf("translation: %+v", tr)
	}
	for _, want := range tr.Containers {
		c := a.waitContainer("predict", want.Name, startTimeout, running)
		if c.Cgroup != want.Cgroup {
			t.Errorf("container %s runs in cgroup %s, translate says %s", want.Name, c.Cgroup, want.Cgroup)
			continue
		}
		a.checkFiles(t, c.Cgroup, want.Files)
	}
	a.checkFiles(t, tr.Pod.Cgroup, tr.Pod.Files)
}

// checkFiles compares predicted cgroup v2 file values with the kernel's.
func (a *agent) checkFiles(t *testing.T, rel string, files map[string]string) {
	t.Helper()
	if len(files) == 0 {
		t.Fatalf("%s: no files predicted", rel)
	}
	for file, want := range files {
		if cgroupV2() {
			if got := a.cgroupFile(rel, file); got != want {
				t.Errorf("%s/%s = %q, translate says %q", rel, file, got, want)
			}
			continue
		}
		a.checkV1(t, rel, file, want)
	}
}

// checkV1 compares one predicted v2 value with its cgroup v1 equivalent.
func (a *agent) checkV1(t *testing.T, rel, file, want string) {
	t.Helper()
	switch file {
	case "cpu.weight":
		shares, err := strconv.ParseUint(a.cgroupFile(rel, "cpu.shares"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(shares), 10); got != want {
			t.Errorf("%s: cpu.shares %d is cpu.weight %s, translate says %s", rel, shares, got, want)
		}
	case "cpu.max":
		quota, period, _ := strings.Cut(want, " ")
		if quota == "max" {
			quota = "-1"
		}
		if got := a.cgroupFile(rel, "cpu.cfs_quota_us"); got != quota {
			t.Errorf("%s/cpu.cfs_quota_us = %s, translate says cpu.max %q", rel, got, want)
		}
		if got := a.cgroupFile(rel, "cpu.cfs_period_us"); got != period {
			t.Errorf("%s/cpu.cfs_period_us = %s, translate says cpu.max %q", rel, got, want)
		}
	case "memory.max":
		got := a.cgroupFile(rel, "memory.limit_in_bytes")
		if want == "max" {
			// v1 shows "no limit" as the largest page-aligned int64.
			if n, _ := strconv.ParseInt(got, 10, 64); n < 1<<62 {
				t.Errorf("%s/memory.limit_in_bytes = %s, translate says max", rel, got)
			}
		} else if got != want {
			t.Errorf("%s/memory.limit_in_bytes = %s, translate says %s", rel, got, want)
		}
	case "pids.max":
		if got := a.cgroupFile(rel, "pids.max"); got != want {
			t.Errorf("%s/pids.max = %s, translate says %s", rel, got, want)
		}
	case "memory.oom.group":
		// No cgroup v1 counterpart.
	default:
		t.Errorf("%s: translate predicts %s, which this test cannot check on v1", rel, file)
	}
}
