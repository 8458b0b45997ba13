//go:build !cgo || !seccomp

package sandbox

// seccompBuiltIn tells whether libcontainer can install seccomp filters:
// it needs cgo, libseccomp and the seccomp build tag.
const seccompBuiltIn = false
