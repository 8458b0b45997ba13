package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// LoadSeccompProfile reads the Localhost profile rel, a path below root, as
// containerd does: a JSON runtime-spec LinuxSeccomp ({"defaultAction": ...,
// "syscalls": [...]}). A path that leaves root, a missing file, bad JSON
// and a profile runc cannot convert are errors.
func LoadSeccompProfile(root, rel string) (*specs.LinuxSeccomp, error) {
	if root == "" {
		return nil, fmt.Errorf("%w %q: no seccomp profile root is set", ErrSeccompProfile, rel)
	}
	if rel == "" || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("%w %q: want a relative path below the seccomp profile root %s", ErrSeccompProfile, rel, root)
	}
	file := filepath.Join(root, rel)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrSeccompProfile, rel, err)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w %q: decode %s: %w", ErrSeccompProfile, rel, file, err)
	}
	if err := checkSeccomp(&p); err != nil {
		return nil, fmt.Errorf("%w %q: %s: %w", ErrSeccompProfile, rel, file, err)
	}
	return &p, nil
}

// setSeccomp sets spec's seccomp filter for s. RuntimeDefault is built for
// the spec's bounding capabilities, as containerd builds it. (A binary built
// without the seccomp tag fails in libcontainer's init with
// "config provided but seccomp not supported".)
func setSeccomp(spec *specs.Spec, s Seccomp) error {
	switch s.Type {
	case SeccompUnconfined:
		spec.Linux.Seccomp = nil
	case SeccompRuntimeDefault:
		p, err := defaultSeccomp(spec)
		if err != nil {
			return err
		}
		spec.Linux.Seccomp = p
	case SeccompLocalhost:
		if s.Profile == nil {
			return fmt.Errorf("%w: Localhost without a loaded profile", ErrSeccompProfile)
		}
		spec.Linux.Seccomp = s.Profile
	default:
		return fmt.Errorf("%w: unknown type %q", ErrSeccompProfile, s.Type)
	}
	return nil
}

// defaultSeccomp is the RuntimeDefault profile for spec: Docker's default
// profile (github.com/moby/profiles/seccomp), from which containerd's is
// derived. It allows the same system calls as containerd's with the same
// capability-gated additions, and is stricter only in socket(): it allows
// the address families Docker lists, where containerd allows every family
// below AF_VSOCK.
func defaultSeccomp(spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	probe := *spec
	if probe.Process == nil || probe.Process.Capabilities == nil {
		proc := specs.Process{Capabilities: &specs.LinuxCapabilities{}}
		probe.Process = &proc
	}
	p, err := seccomp.GetDefaultProfile(&probe)
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	return p, nil
}

// checkSeccomp converts p as runc will, so that a profile with an unknown
// action, architecture, operator or flag is refused before a container is
// made with it.
// An empty defaultAction is refused too: runc would read the profile as no
// filter at all.
func checkSeccomp(p *specs.LinuxSeccomp) error {
	if p.DefaultAction == "" {
		return errors.New("defaultAction is empty")
	}
	_, err := specconv.SetupSeccomp(p)
	return err
}
