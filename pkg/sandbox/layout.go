package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

const (
	podFile   = "pod.json"
	metaFile  = "meta.json"
	exitFile  = "exit.json"
	finalFile = "final.json"
)

var (
	uidRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,127}$`)
	nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,62})$`)
)

// podRecord is what pods/<uid>/pod.json holds.
type podRecord struct {
	UID       types.UID `json:"uid"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	ID        string    `json:"id"`
	// PID and PIDStart identify the sandbox process (start time in clock
	// ticks since boot, as in /proc/<pid>/stat); 0 while it is created.
	PID       int         `json:"pid"`
	PIDStart  uint64      `json:"pidStart"`
	StartedAt time.Time   `json:"startedAt"`
	Spec      SandboxSpec `json:"spec"`
}

// containerRecord is what pods/<uid>/containers/<name>/meta.json holds.
type containerRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Attempt   int       `json:"attempt"`
	Image     string    `json:"image"`
	ImageID   string    `json:"imageID"`
	Cgroup    string    `json:"cgroup"`
	LogPath   string    `json:"logPath"`
	PID       int       `json:"pid"`
	PIDStart  uint64    `json:"pidStart"`
	StartedAt time.Time `json:"startedAt"`
	// CgroupPaths are libcontainer's per-controller cgroup directories
	// ("" for cgroup v2), used to read the OOM kill count.
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// Process is what the app was started with, the defaults of an exec.
	Process *processRecord `json:"process,omitempty"`
}

// processRecord is the user, environment and working directory of a
// container's app.
type processRecord struct {
	UID    int      `json:"uid"`
	GID    int      `json:"gid"`
	Groups []int    `json:"groups,omitempty"`
	Env    []string `json:"env,omitempty"`
	Cwd    string   `json:"cwd"`
}

// exitRecord is what pods/<uid>/containers/<name>/final.json holds.
type exitRecord struct {
	ExitCode   int       `json:"exitCode"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Reason     string    `json:"reason"`
	Message    string    `json:"message,omitempty"`
}

// layout names the files of the state root.
type layout struct{ root string }

func (l layout) libcontainer() string { return filepath.Join(l.root, "libcontainer") }
func (l layout) pods() string         { return filepath.Join(l.root, "pods") }
func (l layout) pod(uid types.UID) string {
	return filepath.Join(l.pods(), string(uid))
}
func (l layout) sandboxRootfs(uid types.UID) string {
	return filepath.Join(l.pod(uid), "sandbox", "rootfs")
}
func (l layout) containers(uid types.UID) string {
	return filepath.Join(l.pod(uid), "containers")
}
func (l layout) container(uid types.UID, name string) string {
	return filepath.Join(l.containers(uid), name)
}

// sandboxID is the libcontainer ID of a pod's sandbox.
func sandboxID(uid types.UID) string { return string(uid) }

// containerID is the libcontainer ID of one attempt of a container. Names
// are DNS labels and UIDs have no dots, so the ID is unambiguous.
func containerID(uid types.UID, name string, attempt int) string {
	return string(uid) + "." + name + "." + strconv.Itoa(attempt)
}

func validUID(uid types.UID) error {
	if !uidRE.MatchString(string(uid)) {
		return fmt.Errorf("invalid pod uid %q", uid)
	}
	return nil
}

func validName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid container name %q", name)
	}
	return nil
}

// writeJSON writes v to path atomically (temp file + rename).
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readJSON decodes path into v; a missing file is ErrNotFound.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}
