//go:build embedinit

package main

import _ "embed"

// initBinary is cmd/kubelet-lite-init, built by hack/build.sh before the
// agent and embedded with the build tag embedinit.
//
//go:embed kubelet-lite-init
var initBinary []byte
