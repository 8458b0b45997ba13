// Package version holds kubelet-lite's version, set at link time.
package version

import "runtime"

// Version is set with -ldflags "-X github.com/kubelet-lite/kubelet-lite/pkg/version.Version=...".
var Version = "v0.1.0-dev"

// String returns the version with the Go runtime it was built by.
func String() string {
	return "kubelet-lite " + Version + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
