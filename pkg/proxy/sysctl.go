package proxy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Sysctls reads and writes kernel parameters under Root (normally "/proc/sys"; a test passes a
// temporary directory).
type Sysctls struct {
	Root string
}

// Get returns the value of name, a path below Root such as "net/ipv4/vs/conntrack".
func (s Sysctls) Get(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, name))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes value to name unless it already holds it.
func (s Sysctls) Set(name, value string) error {
	if cur, err := s.Get(name); err == nil && cur == value {
		return nil
	}
	if err := os.WriteFile(filepath.Join(s.Root, name), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("write sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// EnsureIPVS sets the parameters the IPVS proxy needs, as kube-proxy does:
//   - net/ipv4/vs/conntrack=1: IPVS keeps conntrack entries, so NAT and masquerade rules match;
//   - net/ipv4/vs/expire_nodest_conn=1 and expire_quiescent_template=1: connections and
//     persistence templates of a removed (or weight-0) real server expire instead of hanging;
//   - net/ipv4/vs/conn_reuse_mode=0 on kernels before 5.9 only (its reuse bug was fixed in 5.9,
//     and 0 there stops rescheduling of reused ports);
//   - net/ipv4/ip_forward=1;
//   - net/bridge/bridge-nf-call-iptables=1 when br_netfilter is loaded (pod-to-VIP traffic
//     crossing a bridge must traverse netfilter).
func (s Sysctls) EnsureIPVS() error {
	set := [][2]string{
		{"net/ipv4/vs/conntrack", "1"},
		{"net/ipv4/vs/expire_nodest_conn", "1"},
		{"net/ipv4/vs/expire_quiescent_template", "1"},
		{"net/ipv4/ip_forward", "1"},
	}
	if old, err := s.kernelBefore(5, 9); err != nil {
		return err
	} else if old {
		set = append(set, [2]string{"net/ipv4/vs/conn_reuse_mode", "0"})
	}
	var errs []error
	for _, kv := range set {
		errs = append(errs, s.Set(kv[0], kv[1]))
	}
	const bridge = "net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(filepath.Join(s.Root, bridge)); err == nil {
		errs = append(errs, s.Set(bridge, "1"))
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("stat sysctl %s: %w", bridge, err))
	}
	return errors.Join(errs...)
}

// kernelBefore reports whether kernel/osrelease is older than major.minor.
func (s Sysctls) kernelBefore(major, minor int) (bool, error) {
	rel, err := s.Get("kernel/osrelease")
	if err != nil {
		return false, err
	}
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return false, fmt.Errorf("parse kernel release %q", rel)
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false, fmt.Errorf("parse kernel release %q", rel)
	}
	return maj < major || (maj == major && mnr < minor), nil
}
