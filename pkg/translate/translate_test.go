package translate

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// rl parses "cpu=500m,memory=64Mi" into a ResourceList; "" is nil.
func rl(s string) corev1.ResourceList {
	if s == "" {
		return nil
	}
	l := corev1.ResourceList{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		l[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return l
}

func ctr(name, requests, limits string) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: rl(requests), Limits: rl(limits)}}
}

func sidecar(name, requests, limits string) corev1.Container {
	c := ctr(name, requests, limits)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func mkPod(init []corev1.Container, app ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid1"},
		Spec:       corev1.PodSpec{InitContainers: init, Containers: app},
	}
}

func with(p *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod {
	f(p)
	return p
}

type wantCtr struct {
	name  string
	init  bool
	path  string
	files map[string]string
}

// files is a shorthand for the three files every cgroup has.
func files(weight, cpuMax, memMax string, extra ...string) map[string]string {
	m := map[string]string{"cpu.weight": weight, "cpu.max": cpuMax, "memory.max": memMax}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

const oom = "memory.oom.group"

func TestPod(t *testing.T) {
	pids := Node{PodPidsLimit: 4096}
	cases := []struct {
		name     string
		pod      *corev1.Pod
		node     Node
		qos      corev1.PodQOSClass
		podPath  string
		podFiles map[string]string
		ctrs     []wantCtr
		err      string
	}{
		{
			name: "guaranteed, one container", node: pids,
			pod: mkPod(nil, ctr("app", "cpu=500m,memory=64Mi", "cpu=500m,memory=64Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("59", "50000 100000", "67108864", "pids.max", "4096"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("59", "50000 100000", "67108864", oom, "1")}},
		},
		{
			name: "guaranteed from limits only (requests default to limits)", node: pids,
			pod: mkPod(nil, ctr("app", "", "cpu=1,memory=128Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("100", "100000 100000", "134217728", "pids.max", "4096"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("100", "100000 100000", "134217728", oom, "1")}},
		},
		{
			name: "guaranteed, two containers sum at the pod",
			pod: mkPod(nil,
				ctr("a", "cpu=500m,memory=64Mi", "cpu=500m,memory=64Mi"),
				ctr("b", "cpu=250m,memory=32Mi", "cpu=250m,memory=32Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			// 750m -> 768 shares -> weight 80; 96Mi.
			podFiles: files("80", "75000 100000", "100663296"),
			ctrs: []wantCtr{
				{"a", false, "kubepods/poduid1/a", files("59", "50000 100000", "67108864", oom, "1")},
				{"b", false, "kubepods/poduid1/b", files("35", "25000 100000", "33554432", oom, "1")},
			},
		},
		{
			name: "burstable, requests only", node: pids,
			pod: mkPod(nil, ctr("app", "cpu=100m,memory=64Mi", "")),
			qos: corev1.PodQOSBurstable, podPath: "kubepods/burstable/poduid1",
			podFiles: files("17", "max 100000", "max", "pids.max", "4096"),
			ctrs:     []wantCtr{{"app", false, "kubepods/burstable/poduid1/app", files("17", "max 100000", "max", oom, "1")}},
		},
		{
			name: "burstable, limits above requests",
			pod:  mkPod(nil, ctr("app", "cpu=250m,memory=64Mi", "cpu=500m,memory=128Mi")),
			qos:  corev1.PodQOSBurstable, podPath: "kubepods/burstable/poduid1",
			podFiles: files("35", "50000 100000", "134217728"),
			ctrs:     []wantCtr{{"app", false, "kubepods/burstable/poduid1/app", files("35", "50000 100000", "134217728", oom, "1")}},
		},
		{
			name: "burstable, cpu limit only",
			pod:  mkPod(nil, ctr("app", "", "cpu=1")),
			qos:  corev1.PodQOSBurstable, podPath: "kubepods/burstable/poduid1",
			podFiles: files("100", "100000 100000", "max"),
			ctrs:     []wantCtr{{"app", false, "kubepods/burstable/poduid1/app", files("100", "100000 100000", "max", oom, "1")}},
		},
		{
			name: "burstable, memory limit only",
			pod:  mkPod(nil, ctr("app", "", "memory=64Mi")),
			qos:  corev1.PodQOSBurstable, podPath: "kubepods/burstable/poduid1",
			podFiles: files("1", "max 100000", "67108864"),
			ctrs:     []wantCtr{{"app", false, "kubepods/burstable/poduid1/app", files("1", "max 100000", "67108864", oom, "1")}},
		},
		{
			name: "partial limits: one container without limits leaves the pod unlimited",
			pod: mkPod(nil,
				ctr("a", "", "cpu=1,memory=1Gi"),
				ctr("b", "cpu=500m", "")),
			qos: corev1.PodQOSBurstable, podPath: "kubepods/burstable/poduid1",
			// 1500m -> 1536 shares -> weight 138.
			podFiles: files("138", "max 100000", "max"),
			ctrs: []wantCtr{
				{"a", false, "kubepods/burstable/poduid1/a", files("100", "100000 100000", "1073741824", oom, "1")},
				{"b", false, "kubepods/burstable/poduid1/b", files("59", "max 100000", "max", oom, "1")},
			},
		},
		{
			name: "partial limits: all memory limits but one cpu limit missing",
			pod: mkPod(nil,
				ctr("a", "", "cpu=1,memory=64Mi"),
				ctr("b", "", "memory=32Mi")),
			qos: corev1.PodQOSBurstable, podPath: "kubepods/burstable/poduid1",
			podFiles: files("100", "max 100000", "100663296"),
			ctrs: []wantCtr{
				{"a", false, "kubepods/burstable/poduid1/a", files("100", "100000 100000", "67108864", oom, "1")},
				{"b", false, "kubepods/burstable/poduid1/b", files("1", "max 100000", "33554432", oom, "1")},
			},
		},
		{
			name: "besteffort", node: pids,
			pod: mkPod(nil, ctr("app", "", "")),
			qos: corev1.PodQOSBestEffort, podPath: "kubepods/besteffort/poduid1",
			podFiles: files("1", "max 100000", "max", "pids.max", "4096"),
			ctrs:     []wantCtr{{"app", false, "kubepods/besteffort/poduid1/app", files("1", "max 100000", "max", oom, "1")}},
		},
		{
			name: "besteffort despite an ephemeral-storage request",
			pod:  mkPod(nil, ctr("app", "ephemeral-storage=1Gi", "")),
			qos:  corev1.PodQOSBestEffort, podPath: "kubepods/besteffort/poduid1",
			podFiles: files("1", "max 100000", "max"),
			ctrs:     []wantCtr{{"app", false, "kubepods/besteffort/poduid1/app", files("1", "max 100000", "max", oom, "1")}},
		},
		{
			name: "besteffort with zero requests and limits",
			pod:  mkPod(nil, ctr("app", "cpu=0,memory=0", "cpu=0,memory=0")),
			qos:  corev1.PodQOSBestEffort, podPath: "kubepods/besteffort/poduid1",
			podFiles: files("1", "max 100000", "max"),
			ctrs:     []wantCtr{{"app", false, "kubepods/besteffort/poduid1/app", files("1", "max 100000", "max", oom, "1")}},
		},
		{
			name: "init container larger than the app sets the pod",
			pod: mkPod([]corev1.Container{ctr("setup", "", "cpu=2,memory=256Mi")},
				ctr("app", "", "cpu=500m,memory=64Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			// max(2, 500m) = 2 CPUs -> 2048 shares -> weight 174.
			podFiles: files("174", "200000 100000", "268435456"),
			ctrs: []wantCtr{
				{"setup", true, "kubepods/poduid1/setup", files("174", "200000 100000", "268435456", oom, "1")},
				{"app", false, "kubepods/poduid1/app", files("59", "50000 100000", "67108864", oom, "1")},
			},
		},
		{
			name: "sum of apps larger than the init container sets the pod",
			pod: mkPod([]corev1.Container{ctr("setup", "", "cpu=100m,memory=32Mi")},
				ctr("a", "", "cpu=500m,memory=64Mi"), ctr("b", "", "cpu=500m,memory=64Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("100", "100000 100000", "134217728"),
			ctrs: []wantCtr{
				{"setup", true, "kubepods/poduid1/setup", files("17", "10000 100000", "33554432", oom, "1")},
				{"a", false, "kubepods/poduid1/a", files("59", "50000 100000", "67108864", oom, "1")},
				{"b", false, "kubepods/poduid1/b", files("59", "50000 100000", "67108864", oom, "1")},
			},
		},
		{
			name: "sidecar adds to the apps",
			pod: mkPod([]corev1.Container{sidecar("proxy", "", "cpu=500m,memory=64Mi")},
				ctr("app", "", "cpu=500m,memory=64Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("100", "100000 100000", "134217728"),
			ctrs: []wantCtr{
				{"proxy", true, "kubepods/poduid1/proxy", files("59", "50000 100000", "67108864", oom, "1")},
				{"app", false, "kubepods/poduid1/app", files("59", "50000 100000", "67108864", oom, "1")},
			},
		},
		{
			name: "init after a sidecar runs beside it",
			pod: mkPod([]corev1.Container{
				sidecar("proxy", "", "cpu=500m,memory=64Mi"),
				ctr("migrate", "", "cpu=1,memory=128Mi")},
				ctr("app", "", "cpu=250m,memory=32Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			// migrate runs with proxy: 1500m/192Mi > proxy+app 750m/96Mi.
			podFiles: files("138", "150000 100000", "201326592"),
			ctrs: []wantCtr{
				{"proxy", true, "kubepods/poduid1/proxy", files("59", "50000 100000", "67108864", oom, "1")},
				{"migrate", true, "kubepods/poduid1/migrate", files("100", "100000 100000", "134217728", oom, "1")},
				{"app", false, "kubepods/poduid1/app", files("35", "25000 100000", "33554432", oom, "1")},
			},
		},
		{
			name: "init before a sidecar runs alone",
			pod: mkPod([]corev1.Container{
				ctr("migrate", "", "cpu=1,memory=128Mi"),
				sidecar("proxy", "", "cpu=500m,memory=64Mi")},
				ctr("app", "", "cpu=250m,memory=32Mi")),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			// max(1/128Mi, 750m/96Mi).
			podFiles: files("100", "100000 100000", "134217728"),
			ctrs: []wantCtr{
				{"migrate", true, "kubepods/poduid1/migrate", files("100", "100000 100000", "134217728", oom, "1")},
				{"proxy", true, "kubepods/poduid1/proxy", files("59", "50000 100000", "67108864", oom, "1")},
				{"app", false, "kubepods/poduid1/app", files("35", "25000 100000", "33554432", oom, "1")},
			},
		},
		{
			name: "init container without limits leaves the pod unlimited",
			pod: mkPod([]corev1.Container{ctr("setup", "cpu=100m", "")},
				ctr("app", "", "cpu=500m,memory=64Mi")),
			qos: corev1.PodQOSBurstable, podPath: "kubepods/burstable/poduid1",
			podFiles: files("59", "max 100000", "max"),
			ctrs: []wantCtr{
				{"setup", true, "kubepods/burstable/poduid1/setup", files("17", "max 100000", "max", oom, "1")},
				{"app", false, "kubepods/burstable/poduid1/app", files("59", "50000 100000", "67108864", oom, "1")},
			},
		},
		{
			name: "tiny cpu: 1m gives the minimum shares and quota",
			pod:  mkPod(nil, ctr("app", "", "cpu=1m,memory=4Mi")),
			qos:  corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("1", "1000 100000", "4194304"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("1", "1000 100000", "4194304", oom, "1")}},
		},
		{
			name: "small cpu: 10m is 10 shares and exactly the minimum quota",
			pod:  mkPod(nil, ctr("app", "", "cpu=10m,memory=100M")),
			qos:  corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("4", "1000 100000", "100000000"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("4", "1000 100000", "100000000", oom, "1")}},
		},
		{
			name: "big values: 64 CPUs and 1Ti",
			pod:  mkPod(nil, ctr("app", "", "cpu=64,memory=1Ti")),
			qos:  corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			// 65536 shares -> weight 3023.
			podFiles: files("3023", "6400000 100000", "1099511627776"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("3023", "6400000 100000", "1099511627776", oom, "1")}},
		},
		{
			name: "shares cap at 262144 (weight 10000)",
			pod:  mkPod(nil, ctr("app", "", "cpu=300,memory=1Gi")),
			qos:  corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("10000", "30000000 100000", "1073741824"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("10000", "30000000 100000", "1073741824", oom, "1")}},
		},
		{
			name: "absurd values clamp to the kernel's maxima",
			pod:  mkPod(nil, ctr("app", "", "cpu=1e15,memory=16Ei")),
			qos:  corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			podFiles: files("10000", "17592186044415 100000", "9223372036854775807"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("10000", "17592186044415 100000", "9223372036854775807", oom, "1")}},
		},
		{
			name: "pod overhead adds to requests and limits",
			pod: with(mkPod(nil, ctr("app", "", "cpu=500m,memory=64Mi")), func(p *corev1.Pod) {
				p.Spec.Overhead = rl("cpu=100m,memory=16Mi")
			}),
			qos: corev1.PodQOSGuaranteed, podPath: "kubepods/poduid1",
			// 600m -> 614 shares -> weight 67; 80Mi.
			podFiles: files("67", "60000 100000", "83886080"),
			ctrs:     []wantCtr{{"app", false, "kubepods/poduid1/app", files("59", "50000 100000", "67108864", oom, "1")}},
		},
		{
			name: "pids limit -1 is max", node: Node{PodPidsLimit: -1},
			pod: mkPod(nil, ctr("app", "", "")),
			qos: corev1.PodQOSBestEffort, podPath: "kubepods/besteffort/poduid1",
			podFiles: files("1", "max 100000", "max", "pids.max", "max"),
			ctrs:     []wantCtr{{"app", false, "kubepods/besteffort/poduid1/app", files("1", "max 100000", "max", oom, "1")}},
		},
		{
			name: "pids limit 0 leaves pids.max alone", node: Node{PodPidsLimit: 0},
			pod: mkPod(nil, ctr("app", "", "")),
			qos: corev1.PodQOSBestEffort, podPath: "kubepods/besteffort/poduid1",
			podFiles: files("1", "max 100000", "max"),
			ctrs:     []wantCtr{{"app", false, "kubepods/besteffort/poduid1/app", files("1", "max 100000", "max", oom, "1")}},
		},
		{
			name: "pids limit 64", node: Node{PodPidsLimit: 64},
			pod: mkPod(nil, ctr("app", "", "")),
			qos: corev1.PodQOSBestEffort, podPath: "kubepods/besteffort/poduid1",
			podFiles: files("1", "max 100000", "max", "pids.max", "64"),
			ctrs:     []wantCtr{{"app", false, "kubepods/besteffort/poduid1/app", files("1", "max 100000", "max", oom, "1")}},
		},
		{
			name: "UUID uid",
			pod: with(mkPod(nil, ctr("app", "", "")), func(p *corev1.Pod) {
				p.UID = types.UID("0b5c1e4a-3f1d-4c8e-9a2b-7d6e5f4a3b2c")
			}),
			qos: corev1.PodQOSBestEffort, podPath: "kubepods/besteffort/pod0b5c1e4a-3f1d-4c8e-9a2b-7d6e5f4a3b2c",
			podFiles: files("1", "max 100000", "max"),
			ctrs: []wantCtr{{"app", false, "kubepods/besteffort/pod0b5c1e4a-3f1d-4c8e-9a2b-7d6e5f4a3b2c/app",
				files("1", "max 100000", "max", oom, "1")}},
		},
		{
			name: "error: memory limit below request",
			pod:  mkPod(nil, ctr("app", "memory=64Mi", "memory=32Mi")),
			err:  `container "app": resources.limits.memory (32Mi) is below resources.requests.memory (64Mi)`,
		},
		{
			name: "error: init container cpu limit below request",
			pod:  mkPod([]corev1.Container{ctr("setup", "cpu=200m", "cpu=100m")}, ctr("app", "", "")),
			err:  `init container "setup": resources.limits.cpu (100m) is below resources.requests.cpu (200m)`,
		},
		{
			name: "error: negative cpu request",
			pod:  mkPod(nil, ctr("app", "cpu=-100m", "")),
			err:  `container "app": resources.requests.cpu (-100m) is negative`,
		},
		{
			name: "error: negative memory limit",
			pod:  mkPod(nil, ctr("app", "", "memory=-1")),
			err:  `container "app": resources.limits.memory (-1) is negative`,
		},
		{
			name: "error: duplicate name across init and app containers",
			pod:  mkPod([]corev1.Container{ctr("app", "", "")}, ctr("app", "", "")),
			err:  `container "app": name: used by more than one container`,
		},
		{
			name: "error: name that is a path",
			pod:  mkPod(nil, ctr("../etc", "", "")),
			err:  `container "../etc": name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		},
		{
			name: "error: name that would be the sandbox cgroup",
			pod:  mkPod(nil, ctr(SandboxCgroupName, "", "")),
			err:  `container "_sandbox": name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		},
		{
			name: "error: missing uid",
			pod:  with(mkPod(nil, ctr("app", "", "")), func(p *corev1.Pod) { p.UID = "" }),
			err:  `pod "default/web": metadata.uid is empty`,
		},
		{
			name: "error: uid with a slash",
			pod:  with(mkPod(nil, ctr("app", "", "")), func(p *corev1.Pod) { p.UID = "a/../b" }),
			err:  `pod "default/web": metadata.uid "a/../b": only letters, digits, '-' and '_' are supported`,
		},
		{
			name: "error: no containers",
			pod:  mkPod(nil),
			err:  `pod "default/web": spec.containers is empty`,
		},
		{
			name: "error: pod-level resources",
			pod: with(mkPod(nil, ctr("app", "", "")), func(p *corev1.Pod) {
				p.Spec.Resources = &corev1.ResourceRequirements{Limits: rl("cpu=1")}
			}),
			err: `pod "default/web": spec.resources: pod-level resources are not supported`,
		},
		{
			name: "error: negative overhead",
			pod: with(mkPod(nil, ctr("app", "", "")), func(p *corev1.Pod) {
				p.Spec.Overhead = rl("memory=-1Mi")
			}),
			err: `pod "default/web": spec.overhead.memory (-1Mi) is negative`,
		},
		{
			name: "error: pids limit below -1", node: Node{PodPidsLimit: -2},
			pod: mkPod(nil, ctr("app", "", "")),
			err: `node pod pids limit -2: must be -1 (max), 0 (unset) or positive`,
		},
		{
			name: "error: nil pod",
			err:  `pod is nil`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before *corev1.Pod
			if tc.pod != nil {
				before = tc.pod.DeepCopy()
			}
			got, err := Pod(tc.pod, tc.node)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(tc.pod, before) {
				t.Errorf("Pod modified its input")
			}
			if got.QOSClass != tc.qos {
				t.Errorf("QOSClass = %s, want %s", got.QOSClass, tc.qos)
			}
			if got.Pod.Path != tc.podPath {
				t.Errorf("pod path = %q, want %q", got.Pod.Path, tc.podPath)
			}
			if f := got.Pod.Resources.V2Files(); !reflect.DeepEqual(f, tc.podFiles) {
				t.Errorf("pod files = %v, want %v", f, tc.podFiles)
			}
			var ctrs []wantCtr
			for _, c := range got.Containers {
				ctrs = append(ctrs, wantCtr{c.Name, c.Init, c.Path, c.Resources.V2Files()})
			}
			if !reflect.DeepEqual(ctrs, tc.ctrs) {
				t.Errorf("containers = %+v\nwant %+v", ctrs, tc.ctrs)
			}
		})
	}
}
