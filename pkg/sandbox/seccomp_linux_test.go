package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

func TestLoadSeccompProfile(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"nomkdir.json":     `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`,
		"team/audit.json":  `{"defaultAction": "SCMP_ACT_LOG"}`,
		"broken.json":      `{"defaultAction": `,
		"empty.json":       `{}`,
		"bad-action.json":  `{"defaultAction": "SCMP_ACT_BOGUS"}`,
		"bad-syscall.json": `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}`,
		"bad-arch.json":    `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}`,
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, root, rel string
		wantDefault     specs.LinuxSeccompAction // "" means an error
	}{
		{name: "profile", root: root, rel: "nomkdir.json", wantDefault: specs.ActAllow},
		{name: "profile in a subdirectory", root: root, rel: "team/audit.json", wantDefault: specs.ActLog},
		{name: "missing file", root: root, rel: "missing.json"},
		{name: "bad json", root: root, rel: "broken.json"},
		{name: "no default action", root: root, rel: "empty.json"},
		{name: "unknown default action", root: root, rel: "bad-action.json"},
		{name: "unknown syscall action", root: root, rel: "bad-syscall.json"},
		{name: "unknown architecture", root: root, rel: "bad-arch.json"},
		{name: "absolute path", root: root, rel: filepath.Join(root, "nomkdir.json")},
		{name: "path leaving the root", root: filepath.Join(root, "team"), rel: "../nomkdir.json"},
		{name: "empty path", root: root, rel: ""},
		{name: "no root", root: "", rel: "nomkdir.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := LoadSeccompProfile(tc.root, tc.rel)
			if tc.wantDefault == "" {
				if !errors.Is(err, ErrSeccompProfile) {
					t.Fatalf("got %+v, %v; want an ErrSeccompProfile", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.DefaultAction != tc.wantDefault {
				t.Errorf("defaultAction %q, want %q", p.DefaultAction, tc.wantDefault)
			}
		})
	}
}

// allowed lists the system calls p allows unconditionally.
func allowed(p *specs.LinuxSeccomp) []string {
	var out []string
	for _, s := range p.Syscalls {
		if s.Action == specs.ActAllow && len(s.Args) == 0 {
			out = append(out, s.Names...)
		}
	}
	return out
}

func TestSetSeccomp(t *testing.T) {
	local := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	withCaps := func(caps ...string) *specs.Spec {
		return &specs.Spec{
			Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}},
			Linux:   &specs.Linux{},
		}
	}
	tests := []struct {
		name    string
		spec    *specs.Spec
		seccomp Seccomp
		// check is nil for no filter.
		check   func(t *testing.T, p *specs.LinuxSeccomp)
		wantErr bool
	}{
		{name: "unconfined", spec: withCaps(translate.DefaultCapabilities...), seccomp: Seccomp{}},
		{
			name: "runtime default", spec: withCaps(translate.DefaultCapabilities...), seccomp: Seccomp{Type: SeccompRuntimeDefault},
			check: func(t *testing.T, p *specs.LinuxSeccomp) {
				if p.DefaultAction != specs.ActErrno {
					t.Errorf("defaultAction %q, want SCMP_ACT_ERRNO", p.DefaultAction)
				}
				a := allowed(p)
				for _, call := range []string{"read", "mkdirat", "execve"} {
					if !slices.Contains(a, call) {
						t.Errorf("%s is not allowed", call)
					}
				}
				for _, call := range []string{"unshare", "keyctl", "add_key", "mount", "reboot", "init_module", "kexec_load", "open_by_handle_at", "setns"} {
					if slices.Contains(a, call) {
						t.Errorf("%s is allowed without CAP_SYS_ADMIN", call)
					}
				}
			},
		},
		{
			name: "runtime default with CAP_SYS_ADMIN", spec: withCaps(append(slices.Clone(translate.DefaultCapabilities), "CAP_SYS_ADMIN")...),
			seccomp: Seccomp{Type: SeccompRuntimeDefault},
			check: func(t *testing.T, p *specs.LinuxSeccomp) {
				a := allowed(p)
				for _, call := range []string{"mount", "unshare", "setns"} {
					if !slices.Contains(a, call) {
						t.Errorf("%s is not allowed with CAP_SYS_ADMIN", call)
					}
				}
				if slices.Contains(a, "keyctl") {
					t.Error("keyctl is allowed")
				}
			},
		},
		{
			name: "runtime default of a process without capabilities", spec: &specs.Spec{Linux: &specs.Linux{}},
			seccomp: Seccomp{Type: SeccompRuntimeDefault},
			check: func(t *testing.T, p *specs.LinuxSeccomp) {
				if !slices.Contains(allowed(p), "wait4") {
					t.Error("wait4 is not allowed")
				}
			},
		},
		{
			name: "localhost", spec: withCaps(translate.DefaultCapabilities...), seccomp: Seccomp{Type: SeccompLocalhost, Profile: local},
			check: func(t *testing.T, p *specs.LinuxSeccomp) {
				if p != local {
					t.Errorf("got %+v, want the loaded profile", p)
				}
			},
		},
		{name: "localhost without a profile", spec: withCaps(), seccomp: Seccomp{Type: SeccompLocalhost}, wantErr: true},
		{name: "unknown type", spec: withCaps(), seccomp: Seccomp{Type: "Bogus"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := setSeccomp(tc.spec, tc.seccomp)
			if tc.wantErr {
				if !errors.Is(err, ErrSeccompProfile) {
					t.Fatalf("got %v, want an ErrSeccompProfile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := tc.spec.Linux.Seccomp
			if tc.check == nil {
				if got != nil {
					t.Fatalf("got a filter %+v, want none", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no filter")
			}
			tc.check(t, got)
		})
	}
}
