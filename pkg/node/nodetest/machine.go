// Package nodetest has fakes for testing users of package node.
package nodetest

import (
	"sync"

	"github.com/kubelet-lite/kubelet-lite/pkg/node"
)

// Machine is a node.Machine whose facts the test sets. The zero value
// reports zeros; Set* and Err may be called while a controller reads it.
type Machine struct {
	mu   sync.Mutex
	info node.Info
	mem  node.Memory
	fs   node.Filesystem
	pids node.PIDs
	err  error
	// paths records the paths Filesystem was asked about.
	paths []string
}

var _ node.Machine = (*Machine)(nil)

// NewMachine returns a Machine with the given facts.
func NewMachine(info node.Info, mem node.Memory, fs node.Filesystem, pids node.PIDs) *Machine {
	return &Machine{info: info, mem: mem, fs: fs, pids: pids}
}

// SetMemory replaces the memory facts.
func (m *Machine) SetMemory(mem node.Memory) { m.mu.Lock(); m.mem = mem; m.mu.Unlock() }

// SetFilesystem replaces the filesystem facts.
func (m *Machine) SetFilesystem(fs node.Filesystem) { m.mu.Lock(); m.fs = fs; m.mu.Unlock() }

// SetPIDs replaces the PID facts.
func (m *Machine) SetPIDs(p node.PIDs) { m.mu.Lock(); m.pids = p; m.mu.Unlock() }

// SetErr makes every read fail with err (nil to succeed again).
func (m *Machine) SetErr(err error) { m.mu.Lock(); m.err = err; m.mu.Unlock() }

// Paths returns the paths Filesystem was called with.
func (m *Machine) Paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.paths...)
}

// Info implements node.Machine.
func (m *Machine) Info() (node.Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.info, m.err
}

// Memory implements node.Machine.
func (m *Machine) Memory() (node.Memory, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mem, m.err
}

// Filesystem implements node.Machine.
func (m *Machine) Filesystem(path string) (node.Filesystem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.paths = append(m.paths, path)
	return m.fs, m.err
}

// PIDs implements node.Machine.
func (m *Machine) PIDs() (node.PIDs, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pids, m.err
}
