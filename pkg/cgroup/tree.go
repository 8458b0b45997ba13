package cgroup

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// Tree is the part of the cgroup hierarchy the agent owns: everything below
// its cgroup root.
type Tree struct {
	root string
	v2   bool
}

// NewTree returns the tree below root, an absolute cgroup path.
func NewTree(root string) *Tree {
	return &Tree{root: path.Clean("/" + root), v2: cgroups.IsCgroup2UnifiedMode()}
}

// Version names the cgroup version the host runs: "v2" or "v1".
func (t *Tree) Version() string {
	if t.v2 {
		return "v2"
	}
	return "v1"
}

// Root is the absolute cgroup path the tree starts at.
func (t *Tree) Root() string { return t.root }

// Abs is the absolute cgroup path of rel, a path the translator made.
func (t *Tree) Abs(rel string) string { return Abs(t.root, rel) }

// EnsurePod creates the pod's cgroup (and the QoS levels above it) and
// writes the pod-level values. It is idempotent.
func (t *Tree) EnsurePod(c translate.Cgroup) error {
	res := Resources(c.Resources)
	m, err := manager.New(&cgroups.Cgroup{Path: t.Abs(c.Path), Resources: res})
	if err != nil {
		return fmt.Errorf("pod cgroup %s: %w", c.Path, err)
	}
	if err := m.Apply(-1); err != nil {
		return fmt.Errorf("create pod cgroup %s: %w", c.Path, err)
	}
	if err := m.Set(res); err != nil {
		return fmt.Errorf("set pod cgroup %s: %w", c.Path, err)
	}
	return nil
}

// Remove removes the cgroup at rel and everything below it. Removing what is
// gone is success. It fails while processes are left inside.
func (t *Tree) Remove(rel string) error {
	m, err := manager.New(&cgroups.Cgroup{Path: t.Abs(rel), Resources: &cgroups.Resources{}})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", rel, err)
	}
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", rel, err)
	}
	return nil
}

// Dirs returns the directories the cgroup at rel has on this host: one on
// cgroup v2, one per controller on v1. Keys are controller names ("" on v2).
func (t *Tree) Dirs(rel string) (map[string]string, error) {
	m, err := manager.New(&cgroups.Cgroup{Path: t.Abs(rel), Resources: &cgroups.Resources{}})
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", rel, err)
	}
	return m.GetPaths(), nil
}

// Own returns the cgroup path this process is in. On v1 the controllers may
// differ: it returns the deepest one, provided every other is a prefix of it,
// so a tree rooted there is below this process in every hierarchy.
func Own() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	defer f.Close()
	var paths []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		// On hybrid hosts the v2 line ("0::") and named hierarchies say nothing
		// about the controllers the agent uses; on a v2 host it is the only line.
		if cgroups.IsCgroup2UnifiedMode() != (parts[0] == "0") || strings.HasPrefix(parts[1], "name=") {
			continue
		}
		paths = append(paths, path.Clean(parts[2]))
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	deepest := "/"
	for _, p := range paths {
		if len(p) > len(deepest) {
			deepest = p
		}
	}
	for _, p := range paths {
		if p != "/" && p != deepest && !strings.HasPrefix(deepest, p+"/") {
			return "", fmt.Errorf("own cgroups %v do not nest: set --cgroup-root explicitly", paths)
		}
	}
	return deepest, nil
}
