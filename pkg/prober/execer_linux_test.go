package prober

import "github.com/kubelet-lite/kubelet-lite/pkg/sandbox"

// The lead wires the runtime in as the Execer with no adapter.
var _ Execer = (*sandbox.Runtime)(nil)
