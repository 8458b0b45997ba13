package volume

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FakeMounter records mounts instead of making them.
type FakeMounter struct {
	mu sync.Mutex
	// Mounts maps mount points to "tmpfs size=N" or "bind <resolved source>".
	Mounts map[string]string
}

func (f *FakeMounter) MountTmpfs(dir string, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Mounts[dir] = "tmpfs size=" + itoa(size)
	return nil
}

func (f *FakeMounter) Bind(source, target string) error {
	resolved, err := os.Readlink(source)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Mounts[target] = "bind " + resolved
	return nil
}

func (f *FakeMounter) IsMountPoint(dir string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.Mounts[dir]
	return ok, nil
}

func (f *FakeMounter) MountsUnder(dir string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for mp := range f.Mounts {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

func (f *FakeMounter) Unmount(target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Mounts, target)
	return nil
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

// NewFake returns a Manager on a FakeMounter, with clock now when not nil.
func NewFake(cfg Config, now func() time.Time) (*Manager, *FakeMounter, error) {
	f := &FakeMounter{Mounts: map[string]string{}}
	m, err := newManager(cfg, f)
	if err != nil {
		return nil, nil, err
	}
	if now != nil {
		m.now = now
	}
	return m, f, nil
}

// RefreshAll runs one round of Run.
func (m *Manager) RefreshAll(ctx context.Context) { m.refreshAll(ctx) }

// Dir is the resolved Config.Dir.
func (m *Manager) Dir() string { return m.cfg.Dir }
