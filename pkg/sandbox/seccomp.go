package sandbox

import (
	"errors"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// SeccompType is how a container's system calls are filtered, in the words
// of the pod's seccompProfile.type.
type SeccompType string

const (
	// SeccompUnconfined installs no filter; it is the zero value.
	SeccompUnconfined SeccompType = ""
	// SeccompRuntimeDefault is containerd's default profile (see
	// defaultSeccomp).
	SeccompRuntimeDefault SeccompType = "RuntimeDefault"
	// SeccompLocalhost is a profile the node's administrator wrote (see
	// LoadSeccompProfile).
	SeccompLocalhost SeccompType = "Localhost"
)

// Seccomp is a container's seccomp profile.
type Seccomp struct {
	Type SeccompType
	// Profile is the Localhost profile as LoadSeccompProfile read it.
	Profile *specs.LinuxSeccomp
}

// ErrSeccompProfile is wrapped by LoadSeccompProfile's errors: the pod asks
// for a profile that is missing or invalid.
var ErrSeccompProfile = errors.New("seccomp profile")
