package main

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
)

// boundingCapabilities is this process's bounding set as "CAP_" names:
// what a privileged container (or one that adds ALL) gets, as containerd
// gives its own capabilities.
func boundingCapabilities() ([]string, error) {
	c, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("read own capabilities: %w", err)
	}
	if err := c.Load(); err != nil {
		return nil, fmt.Errorf("read own capabilities: %w", err)
	}
	var out []string
	for _, cp := range capability.ListKnown() {
		if c.Get(capability.BOUNDING, cp) {
			out = append(out, "CAP_"+strings.ToUpper(cp.String()))
		}
	}
	return out, nil
}
