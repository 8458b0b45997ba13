package translate

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestContainerSecurity(t *testing.T) {
	caps := func(add, drop []corev1.Capability) *corev1.SecurityContext {
		return &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: add, Drop: drop}}
	}
	tests := []struct {
		name    string
		sc      *corev1.SecurityContext
		want    Security
		wantErr bool
	}{
		{name: "none: containerd's defaults", sc: nil, want: Security{Capabilities: DefaultCapabilities}},
		{name: "drop ALL", sc: caps(nil, []corev1.Capability{"ALL"}), want: Security{}},
		{name: "drop ALL, add one without prefix", sc: caps([]corev1.Capability{"net_bind_service"}, []corev1.Capability{"ALL"}),
			want: Security{Capabilities: []string{"CAP_NET_BIND_SERVICE"}}},
		{name: "add with prefix, drop without", sc: caps([]corev1.Capability{"CAP_SYS_PTRACE"}, []corev1.Capability{"NET_RAW", "chown"}),
			want: Security{Capabilities: []string{"CAP_AUDIT_WRITE", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
				"CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE"}}},
		{name: "unknown capability", sc: caps([]corev1.Capability{"FLY"}, nil), wantErr: true},
		{name: "allowPrivilegeEscalation false sets no_new_privs",
			sc:   &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true)},
			want: Security{Capabilities: DefaultCapabilities, NoNewPrivileges: true, ReadOnlyRootfs: true}},
		{name: "allowPrivilegeEscalation true leaves it unset",
			sc:   &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)},
			want: Security{Capabilities: DefaultCapabilities}},
		{name: "unmasked proc", sc: &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)},
			want: Security{Capabilities: DefaultCapabilities, UnmaskedProc: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", SecurityContext: tc.sc}
			got, err := SecurityPolicy{}.ContainerSecurity(c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got.Privileged != tc.want.Privileged || got.NoNewPrivileges != tc.want.NoNewPrivileges ||
				got.ReadOnlyRootfs != tc.want.ReadOnlyRootfs || got.UnmaskedProc != tc.want.UnmaskedProc ||
				!slices.Equal(got.Capabilities, tc.want.Capabilities) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPrivilegedSecurity(t *testing.T) {
	c := &corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
	got, err := SecurityPolicy{}.ContainerSecurity(c)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Privileged || got.NoNewPrivileges || len(got.Capabilities) < 38 ||
		!slices.Contains(got.Capabilities, "CAP_SYS_ADMIN") || !slices.Contains(got.Capabilities, "CAP_SYS_MODULE") {
		t.Errorf("privileged = %+v, want every capability", got)
	}
}

func TestSecurityPolicyCheck(t *testing.T) {
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
		mut(p)
		return p
	}
	sc := func(s *corev1.SecurityContext) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext = s }
	}
	sysctls := func(hostNet bool, kv ...string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.HostNetwork = hostNet
			p.Spec.SecurityContext = &corev1.PodSecurityContext{}
			for i := 0; i < len(kv); i += 2 {
				p.Spec.SecurityContext.Sysctls = append(p.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: kv[i], Value: kv[i+1]})
			}
		}
	}
	unsafe := SecurityPolicy{UnsafeSysctls: []string{"kernel.msg*", "net.core.somaxconn"}}
	tests := []struct {
		name   string
		policy SecurityPolicy
		pod    *corev1.Pod
		want   *Refusal
	}{
		{"plain pod", SecurityPolicy{}, pod(func(*corev1.Pod) {}), nil},
		{"privileged refused", SecurityPolicy{}, pod(sc(&corev1.SecurityContext{Privileged: ptr.To(true)})),
			&Refusal{"Forbidden", `pod with UID "u1" specified privileged container, but is disallowed`}},
		{"privileged init container refused", SecurityPolicy{}, pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		}), &Refusal{"Forbidden", `pod with UID "u1" specified privileged init container, but is disallowed`}},
		{"privileged allowed", SecurityPolicy{AllowPrivileged: true}, pod(sc(&corev1.SecurityContext{Privileged: ptr.To(true)})), nil},
		{"no escalation but privileged", SecurityPolicy{AllowPrivileged: true},
			pod(sc(&corev1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)})),
			&Refusal{"Forbidden", "container \"c\": cannot set `allowPrivilegeEscalation` to false and `privileged` to true"}},
		{"no escalation but SYS_ADMIN", SecurityPolicy{},
			pod(sc(&corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"sys_admin"}}})),
			&Refusal{"Forbidden", "container \"c\": cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"}},
		{"unmasked proc with host users", SecurityPolicy{}, pod(sc(&corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)})),
			&Refusal{"Forbidden", "container \"c\": procMount: `hostUsers` must be false to use `Unmasked`"}},
		{"unmasked proc in a user namespace", SecurityPolicy{}, pod(func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr.To(false)
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)}
		}), nil},
		{"safe sysctls", SecurityPolicy{}, pod(sysctls(false, "net.ipv4.ip_local_port_range", "1024 2048", "kernel/shm_rmid_forced", "1")), nil},
		{"unsafe sysctl refused", SecurityPolicy{}, pod(sysctls(false, "net.core.somaxconn", "1024")),
			&Refusal{"SysctlForbidden", `forbidden sysctl: "net.core.somaxconn" not allowlisted`}},
		{"unsafe sysctl allowed by name", unsafe, pod(sysctls(false, "net.core.somaxconn", "1024")), nil},
		{"unsafe sysctl allowed by prefix", unsafe, pod(sysctls(false, "kernel.msgmax", "9000")), nil},
		{"net sysctl with host network", unsafe, pod(sysctls(true, "net.ipv4.tcp_syncookies", "1")),
			&Refusal{"SysctlForbidden", `forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled`}},
		{"sysctl given twice", SecurityPolicy{}, pod(sysctls(false, "net.ipv4.tcp_syncookies", "1", "net/ipv4/tcp_syncookies", "0")),
			&Refusal{"SysctlForbidden", `forbidden sysctl: "net/ipv4/tcp_syncookies" given twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.policy.Check(tc.pod)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("Check = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestValidateUnsafeSysctls(t *testing.T) {
	for _, ok := range [][]string{nil, {"kernel.shm*", "kernel.msg*", "kernel.sem", "fs.mqueue.*", "net.*"}, {"net.core.somaxconn"}} {
		if err := ValidateUnsafeSysctls(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"vm.swappiness"}, {"kernel.*"}, {"net.*.foo"}, {"*"}} {
		if err := ValidateUnsafeSysctls(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestSysctls(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
		{Name: "net/ipv4/ip_local_port_range", Value: "1024 2048"}}}}}
	if got := Sysctls(p); len(got) != 1 || got["net.ipv4.ip_local_port_range"] != "1024 2048" {
		t.Errorf("Sysctls = %v", got)
	}
	if got := Sysctls(&corev1.Pod{}); got != nil {
		t.Errorf("Sysctls of a pod without = %v", got)
	}
}

func TestNodeCapabilities(t *testing.T) {
	p := SecurityPolicy{Capabilities: []string{"CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"}}
	for _, tc := range []struct {
		name    string
		sc      *corev1.SecurityContext
		want    []string
		wantErr bool
	}{
		{"add ALL gives the node's", &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"ALL"}, Drop: []corev1.Capability{"KILL"}}},
			[]string{"CAP_CHOWN", "CAP_NET_RAW"}, false},
		{"privileged gives the node's", &corev1.SecurityContext{Privileged: ptr.To(true)}, []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}, false},
		{"adding one the node lacks", &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_RESOURCE"}}}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.ContainerSecurity(&corev1.Container{Name: "c", SecurityContext: tc.sc})
			if (err != nil) != tc.wantErr || !slices.Equal(got.Capabilities, tc.want) {
				t.Errorf("got %v, %v; want %v, error %v", got.Capabilities, err, tc.want, tc.wantErr)
			}
		})
	}
}
