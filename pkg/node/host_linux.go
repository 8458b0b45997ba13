package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is the Machine this process runs on, read from /proc, /sys and /etc
// below Root ("" means "/"; tests point it at a tree of fixtures). Filesystem
// calls statfs on the path itself, not below Root.
type Host struct {
	Root string
}

var _ Machine = Host{}

func (h Host) path(p string) string {
	if h.Root == "" {
		return p
	}
	return filepath.Join(h.Root, p)
}

// Info reads /etc/machine-id (or /var/lib/dbus/machine-id),
// /sys/class/dmi/id/product_uuid (readable only by root; empty otherwise),
// /proc/sys/kernel/random/boot_id, /proc/sys/kernel/osrelease (uname -r) and
// PRETTY_NAME of /etc/os-release, and counts the CPUs this process may use.
func (h Host) Info() (Info, error) {
	info := Info{NumCPU: runtime.NumCPU()}
	var err error
	if info.MachineID, err = h.firstLine("/etc/machine-id", "/var/lib/dbus/machine-id"); err != nil {
		return Info{}, err
	}
	if info.SystemUUID, err = h.firstLine("/sys/class/dmi/id/product_uuid"); err != nil {
		return Info{}, err
	}
	if info.BootID, err = h.firstLine("/proc/sys/kernel/random/boot_id"); err != nil {
		return Info{}, err
	}
	if info.KernelVersion, err = h.firstLine("/proc/sys/kernel/osrelease"); err != nil {
		return Info{}, err
	}
	if info.OSImage, err = h.osImage(); err != nil {
		return Info{}, err
	}
	return info, nil
}

// firstLine returns the first line of the first of paths that exists and is
// readable, or "" if none is.
func (h Host) firstLine(paths ...string) (string, error) {
	for _, p := range paths {
		b, err := os.ReadFile(h.path(p))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSpace(line), nil
	}
	return "", nil
}

// osImage returns PRETTY_NAME from /etc/os-release (or
// /usr/lib/os-release), "Linux" when neither says.
func (h Host) osImage() (string, error) {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(h.path(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME=")
			if !ok {
				continue
			}
			if u, err := strconv.Unquote(v); err == nil {
				return u, nil
			}
			return strings.Trim(v, `"'`), nil
		}
	}
	return "Linux", nil
}

// Memory reads MemTotal and MemAvailable from /proc/meminfo.
func (h Host) Memory() (Memory, error) {
	b, err := os.ReadFile(h.path("/proc/meminfo"))
	if err != nil {
		return Memory{}, fmt.Errorf("read meminfo: %w", err)
	}
	var m Memory
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		var dst *uint64
		switch fields[0] {
		case "MemTotal:":
			dst, haveTotal = &m.Total, true
		case "MemAvailable:":
			dst, haveAvail = &m.Available, true
		default:
			continue
		}
		n, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("parse meminfo %s: %w", fields[0], err)
		}
		if len(fields) > 2 && fields[2] == "kB" {
			n *= 1024
		}
		*dst = n
	}
	if !haveTotal || !haveAvail {
		return Memory{}, errors.New("meminfo has no MemTotal or MemAvailable")
	}
	return m, nil
}

// Filesystem statfs's path: capacity is the filesystem's size, available
// what an unprivileged user may still use (f_bavail), as df shows them.
func (h Host) Filesystem(path string) (Filesystem, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Filesystem{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return Filesystem{
		Capacity:   st.Blocks * bs,
		Available:  st.Bavail * bs,
		Inodes:     st.Files,
		InodesFree: st.Ffree,
	}, nil
}

// PIDs reads the number of tasks from /proc/loadavg (its 4th field is
// running/total) and the limit as min(pid_max, threads-max), as upstream's
// pid.available signal does.
func (h Host) PIDs() (PIDs, error) {
	b, err := os.ReadFile(h.path("/proc/loadavg"))
	if err != nil {
		return PIDs{}, fmt.Errorf("read loadavg: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) < 4 {
		return PIDs{}, fmt.Errorf("parse loadavg %q: too few fields", b)
	}
	_, total, ok := strings.Cut(fields[3], "/")
	if !ok {
		return PIDs{}, fmt.Errorf("parse loadavg %q: no tasks field", b)
	}
	var p PIDs
	if p.Running, err = strconv.ParseUint(total, 10, 64); err != nil {
		return PIDs{}, fmt.Errorf("parse loadavg tasks: %w", err)
	}
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		b, err := os.ReadFile(h.path(f))
		if err != nil {
			return PIDs{}, fmt.Errorf("read %s: %w", f, err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return PIDs{}, fmt.Errorf("parse %s: %w", f, err)
		}
		if p.Max == 0 || n < p.Max {
			p.Max = n
		}
	}
	return p, nil
}
