package translate

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// byteReader hands out fuzz bytes, then zeros.
type byteReader struct{ b []byte }

func (r *byteReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// fuzzNames includes duplicates-in-waiting and names that must be refused.
var fuzzNames = []string{"a", "b", "app", "side-car", "x1", "_sandbox", "../x", ""}

// hugeExponent matches a decimal exponent beyond any real quantity's.
var hugeExponent = regexp.MustCompile(`[eE][+-]?[0-9]{4,}`)

// fuzzPod builds a pod from fuzz input: quantities is a comma-separated pool
// of strings, the valid ones usable as requests, limits and overhead.
func fuzzPod(data []byte, quantities string) *corev1.Pod {
	r := &byteReader{data}
	var pool []resource.Quantity
	for _, s := range strings.Split(quantities, ",") {
		if hugeExponent.MatchString(s) {
			continue // resource.ParseQuantity itself takes hours on 1E1000000000
		}
		if q, err := resource.ParseQuantity(s); err == nil {
			pool = append(pool, q)
		}
	}
	pick := func() resource.Quantity {
		if len(pool) == 0 {
			return resource.Quantity{}
		}
		return pool[int(r.next())%len(pool)]
	}
	// fill sets one resource on a requests/limits pair: none, request only,
	// limit only, both equal (the Guaranteed shape) or both random.
	fill := func(req, lim corev1.ResourceList, name corev1.ResourceName) {
		switch r.next() % 5 {
		case 1:
			req[name] = pick()
		case 2:
			lim[name] = pick()
		case 3:
			req[name] = pick()
			lim[name] = req[name]
		case 4:
			req[name], lim[name] = pick(), pick()
		}
	}
	names := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage}
	mk := func(i int, init bool) corev1.Container {
		c := corev1.Container{Name: fmt.Sprintf("c%d", i)}
		if b := r.next(); b%4 == 0 {
			c.Name = fuzzNames[int(b/4)%len(fuzzNames)]
		}
		c.Resources.Requests, c.Resources.Limits = corev1.ResourceList{}, corev1.ResourceList{}
		for _, name := range names {
			fill(c.Resources.Requests, c.Resources.Limits, name)
		}
		if init && r.next()%2 == 1 {
			always := corev1.ContainerRestartPolicyAlways
			c.RestartPolicy = &always
		}
		return c
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: types.UID([]string{"u1", "0b5c1e4a-3f1d", "u2", "", "a/b"}[r.next()%5])}}
	nInit, nApp := int(r.next()%4), int(r.next()%5)
	for i := 0; i < nInit; i++ {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, mk(i, true))
	}
	for i := nInit; i < nInit+nApp; i++ {
		pod.Spec.Containers = append(pod.Spec.Containers, mk(i, false))
	}
	if r.next()%5 == 0 {
		pod.Spec.Overhead = corev1.ResourceList{}
		fill(corev1.ResourceList{}, pod.Spec.Overhead, corev1.ResourceCPU)
		fill(corev1.ResourceList{}, pod.Spec.Overhead, corev1.ResourceMemory)
	}
	fuzzSecurity(r, pod)
	return pod
}

// Pools of securityContext values, valid and not.
var (
	fuzzCaps     = []corev1.Capability{"ALL", "all", "CHOWN", "cap_net_raw", "SYS_ADMIN", "CAP_SYS_MODULE", "NO_SUCH", "", "CAP_"}
	fuzzSysctls  = []string{"net.ipv4.ip_local_port_range", "kernel.shm_rmid_forced", "net/core/somaxconn", "kernel.msgmax", "vm.swappiness", "net..x", "", "*"}
	fuzzPatterns = []string{"net.*", "kernel.msg*", "net.core.somaxconn", "*", "vm.*", "kernel.shm*x", ""}
	fuzzProcs    = []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount, "Other", ""}
)

// fuzzBool is nil, false or true.
func fuzzBool(r *byteReader) *bool {
	switch r.next() % 3 {
	case 1:
		return new(bool)
	case 2:
		b := true
		return &b
	}
	return nil
}

// fuzzSecurity gives the pod and its containers random securityContexts.
func fuzzSecurity(r *byteReader, pod *corev1.Pod) {
	pod.Spec.HostNetwork, pod.Spec.HostIPC = r.next()%4 == 0, r.next()%4 == 0
	pod.Spec.HostUsers = fuzzBool(r)
	if r.next()%2 == 0 {
		psc := &corev1.PodSecurityContext{}
		for n := r.next() % 4; n > 0; n-- {
			psc.Sysctls = append(psc.Sysctls, corev1.Sysctl{Name: fuzzSysctls[int(r.next())%len(fuzzSysctls)], Value: "1"})
		}
		pod.Spec.SecurityContext = psc
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if r.next()%3 == 0 {
				continue
			}
			sc := &corev1.SecurityContext{Privileged: fuzzBool(r), AllowPrivilegeEscalation: fuzzBool(r), ReadOnlyRootFilesystem: fuzzBool(r)}
			if b := r.next(); b%2 == 0 {
				sc.ProcMount = &fuzzProcs[int(b/2)%len(fuzzProcs)]
			}
			if r.next()%2 == 0 {
				sc.Capabilities = &corev1.Capabilities{}
				for n := r.next() % 4; n > 0; n-- {
					sc.Capabilities.Add = append(sc.Capabilities.Add, fuzzCaps[int(r.next())%len(fuzzCaps)])
				}
				for n := r.next() % 4; n > 0; n-- {
					sc.Capabilities.Drop = append(sc.Capabilities.Drop, fuzzCaps[int(r.next())%len(fuzzCaps)])
				}
			}
			list[i].SecurityContext = sc
		}
	}
}

// fuzzPolicy is a node policy from fuzz input.
func fuzzPolicy(r *byteReader) SecurityPolicy {
	p := SecurityPolicy{AllowPrivileged: r.next()%2 == 0}
	for n := r.next() % 3; n > 0; n-- {
		p.UnsafeSysctls = append(p.UnsafeSysctls, fuzzPatterns[int(r.next())%len(fuzzPatterns)])
	}
	return p
}

// checkSecurity feeds pod through the node's security checks and
// translation, and asserts what must hold for every admitted pod.
func checkSecurity(t *testing.T, pod *corev1.Pod, policy SecurityPolicy) {
	t.Helper()
	if ValidateUnsafeSysctls(policy.UnsafeSysctls) != nil {
		return // the agent refuses to start with such a flag
	}
	ref := policy.Check(pod)
	if ref != nil {
		if ref.Reason == "" || ref.Message == "" {
			t.Fatalf("refusal without reason or message: %+v", ref)
		}
		return
	}
	sysctls := Sysctls(pod)
	for name := range sysctls {
		if strings.ContainsAny(name, "/*") || (pod.Spec.HostNetwork && strings.HasPrefix(name, "net.")) {
			t.Fatalf("admitted sysctl %q (host network %v)", name, pod.Spec.HostNetwork)
		}
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		sec, err := policy.ContainerSecurity(&c)
		if err != nil {
			continue // the container waits with CreateContainerConfigError
		}
		if sec.Privileged && !policy.AllowPrivileged {
			t.Fatalf("container %s privileged though the node does not allow it", c.Name)
		}
		// As upstream's validation: no_new_privs with privileged or an
		// explicit CAP_SYS_ADMIN is refused (with add ALL it is not).
		if sec.NoNewPrivileges && (sec.Privileged || c.SecurityContext.Capabilities != nil && slices.ContainsFunc(c.SecurityContext.Capabilities.Add, func(a corev1.Capability) bool {
			n, _ := capName(string(a))
			return n == "CAP_SYS_ADMIN"
		})) {
			t.Fatalf("container %s: no_new_privs with privileges: %+v", c.Name, sec)
		}
		if sec.UnmaskedProc && (pod.Spec.HostUsers == nil || *pod.Spec.HostUsers) {
			t.Fatalf("container %s: unmasked /proc in the host's user namespace", c.Name)
		}
		if !slices.IsSorted(sec.Capabilities) || len(slices.Compact(slices.Clone(sec.Capabilities))) != len(sec.Capabilities) {
			t.Fatalf("container %s: capabilities not a sorted set: %v", c.Name, sec.Capabilities)
		}
		for _, n := range sec.Capabilities {
			if !strings.HasPrefix(n, "CAP_") || strings.ToUpper(n) != n {
				t.Fatalf("container %s: capability %q", c.Name, n)
			}
		}
	}
}

func FuzzPod(f *testing.F) {
	f.Add([]byte{}, "", int64(0))
	f.Add([]byte{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "500m,64Mi,1", int64(4096))
	f.Add([]byte{0, 1, 3, 1, 2, 0, 1, 2, 0, 1, 0, 2, 1, 2, 0, 2, 2, 1, 1, 2, 2}, "1m,100Mi,2,-1,1e15,16Ei", int64(-1))
	f.Add([]byte{1, 2, 0, 4, 4, 4, 5, 5, 5, 1, 2, 1, 2, 1, 2, 4, 5}, "0,0.5,1Ki,garbage,1.5Gi", int64(-2))
	f.Add([]byte{0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0}, "100m,200m,32Mi,64Mi", int64(64))
	// security contexts: sysctls, capabilities, privileged, procMount
	f.Add([]byte{1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0, 3, 0, 2, 5, 1, 2, 1, 0, 2, 0, 1, 4, 1, 2, 3, 8}, "net.*,1", int64(1))
	f.Fuzz(func(t *testing.T, data []byte, quantities string, pids int64) {
		pod := fuzzPod(data, quantities)
		before := pod.DeepCopy()
		node := Node{PodPidsLimit: pids}
		checkSecurity(t, pod, fuzzPolicy(&byteReader{[]byte(quantities)}))
		res, err := Pod(pod, node)
		if !reflect.DeepEqual(pod, before) {
			t.Fatalf("Pod or the security checks modified the input")
		}
		if err != nil {
			if res != nil || err.Error() == "" {
				t.Fatalf("error %q with result %v", err, res)
			}
			return
		}
		again, _ := Pod(pod, node)
		if !reflect.DeepEqual(res, again) {
			t.Fatalf("not deterministic: %v then %v", res, again)
		}
		checkInvariants(t, pod, node, res)
	})
}

// checkInvariants asserts what must hold for every pod Pod accepts.
func checkInvariants(t *testing.T, pod *corev1.Pod, node Node, res *Result) {
	t.Helper()
	if pod.UID == "" || node.PodPidsLimit < -1 || len(pod.Spec.Containers) == 0 {
		t.Fatalf("accepted uid %q, pids %d, %d containers", pod.UID, node.PodPidsLimit, len(pod.Spec.Containers))
	}
	if res.QOSClass != QOSClass(pod) || res.Pod.Path != PodCgroup(res.QOSClass, string(pod.UID)) {
		t.Fatalf("qos %s path %s for a pod QOSClass calls %s", res.QOSClass, res.Pod.Path, QOSClass(pod))
	}
	p := res.Pod.Resources
	checkResources(t, "pod", p)
	if p.PidsMax != node.PodPidsLimit || p.OOMGroup {
		t.Fatalf("pod pids.max %d (node %d), oom group %v", p.PidsMax, node.PodPidsLimit, p.OOMGroup)
	}
	switch res.QOSClass {
	case corev1.PodQOSGuaranteed:
		if p.MemoryMax <= 0 || p.CPUQuota <= 0 {
			t.Fatalf("guaranteed pod without limits: %+v", p)
		}
	case corev1.PodQOSBestEffort:
		if p.CPUShares != MinShares || p.CPUQuota != -1 || p.MemoryMax != -1 {
			t.Fatalf("besteffort pod with values: %+v", p)
		}
	}
	want := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	if len(res.Containers) != len(want) {
		t.Fatalf("%d containers, want %d", len(res.Containers), len(want))
	}
	seen := map[string]bool{}
	for i, c := range res.Containers {
		if c.Name != want[i].Name || c.Init != (i < len(pod.Spec.InitContainers)) || c.Path != res.Pod.Path+"/"+c.Name || seen[c.Name] {
			t.Fatalf("container %d: %+v", i, c)
		}
		seen[c.Name] = true
		r := c.Resources
		checkResources(t, c.Name, r)
		if !r.OOMGroup || r.PidsMax != 0 {
			t.Fatalf("container %s: %+v", c.Name, r)
		}
		if res.QOSClass == corev1.PodQOSGuaranteed && (r.CPUQuota <= 0 || r.MemoryMax <= 0) {
			t.Fatalf("guaranteed container %s without limits: %+v", c.Name, r)
		}
		if res.QOSClass != corev1.PodQOSBestEffort && r.CPUShares > p.CPUShares {
			t.Fatalf("container %s shares %d above the pod's %d", c.Name, r.CPUShares, p.CPUShares)
		}
		if p.MemoryMax > 0 && (r.MemoryMax <= 0 || r.MemoryMax > p.MemoryMax) {
			t.Fatalf("container %s memory.max %d outside the pod's %d", c.Name, r.MemoryMax, p.MemoryMax)
		}
		if p.CPUQuota > 0 && (r.CPUQuota <= 0 || r.CPUQuota > p.CPUQuota) {
			t.Fatalf("container %s quota %d outside the pod's %d", c.Name, r.CPUQuota, p.CPUQuota)
		}
	}
}

// checkResources asserts the ranges every cgroup's values stay in.
func checkResources(t *testing.T, who string, r Resources) {
	t.Helper()
	if r.CPUShares < MinShares || r.CPUShares > MaxShares || r.CPUPeriod != QuotaPeriod ||
		(r.CPUQuota != -1 && (r.CPUQuota < MinQuota || r.CPUQuota > MaxQuota)) ||
		(r.MemoryMax != -1 && r.MemoryMax <= 0) {
		t.Fatalf("%s: values out of range: %+v", who, r)
	}
	f := r.V2Files()
	for _, k := range []string{"cpu.weight", "cpu.max", "memory.max"} {
		if f[k] == "" {
			t.Fatalf("%s: no %s in %v", who, k, f)
		}
	}
	if _, ok := f["pids.max"]; ok != (r.PidsMax != 0) {
		t.Fatalf("%s: pids.max presence wrong in %v for %d", who, f, r.PidsMax)
	}
}
