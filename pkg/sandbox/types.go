package sandbox

import (
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

var (
	// ErrNotFound is returned for a pod or container the runtime does not know.
	ErrNotFound = errors.New("not found")
	// ErrRunning is returned by StartContainer when a container of that name
	// is still running in the pod.
	ErrRunning = errors.New("container is running")
	// ErrSandboxNotRunning is returned by StartContainer when the pod's
	// sandbox is not running (call EnsureSandbox first).
	ErrSandboxNotRunning = errors.New("sandbox is not running")
	// ErrReadOnly is returned by the methods that change state when another
	// process owns the state root (see New).
	ErrReadOnly = errors.New("sandbox state is opened read-only")
	// ErrRootInUse is returned by New when another process owns the root.
	ErrRootInUse = errors.New("sandbox state is owned by another process (is another agent running with this --root-dir?)")
)

// Config configures a Runtime.
type Config struct {
	// Root is the state root, e.g. /var/lib/kubelet-lite/sandbox.
	Root string
	// Binary is the host path of the agent binary that is bind-mounted
	// read-only at pid1.Path in every container (default: os.Executable()).
	Binary string
	// CgroupRoot is the absolute cgroup path under which the translator's
	// relative cgroup paths live ("/" normally).
	CgroupRoot string
	// ReadOnly opens the state without owning it, for readers such as
	// `kubelet-lite ps` beside a running agent: only ContainerStatus and
	// ListPods work. A Runtime that is not ReadOnly owns the root, and New
	// fails with ErrRootInUse while another process owns it.
	ReadOnly bool
	// OnExit is called, from any goroutine, when a container's PID 1 exits;
	// container is "" when the pod's sandbox exited. May be nil.
	OnExit func(podUID types.UID, container string)
}

// SandboxSpec describes a pod's sandbox.
type SandboxSpec struct {
	UID             types.UID
	Namespace, Name string
	// Hostname is the pod's hostname (default: Name); ignored with HostNetwork.
	Hostname                                             string
	HostNetwork, HostIPC, HostPID, ShareProcessNamespace bool
	// PodCgroup is the pod's cgroup, relative to Config.CgroupRoot; the
	// sandbox runs in its child translate.SandboxCgroupName.
	PodCgroup string
	// Sysctls are set in the sandbox's namespaces, which the containers
	// join (dotted names, e.g. net.ipv4.ip_local_port_range).
	Sysctls map[string]string
}

// Mount is an extra bind mount of a container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// ContainerSpec describes one attempt of an app container.
type ContainerSpec struct {
	PodUID types.UID
	Name   string
	// Attempt is the restart count; it is recorded and part of the ID.
	Attempt int
	// Image and ImageID are recorded for status and ps.
	Image, ImageID string
	// Layers are the unpacked image layer directories, lowest first.
	Layers []string
	// Args, Env and WorkingDir are already merged with the image config;
	// Args[0] is resolved by PID 1 via PATH.
	Args       []string
	Env        []string
	WorkingDir string
	UID, GID   uint32
	// AdditionalGIDs are supplementary groups.
	AdditionalGIDs []uint32
	// Cgroup is the container's cgroup (path relative to Config.CgroupRoot).
	Cgroup translate.Cgroup
	// LogPath is the host path of this attempt's log file.
	LogPath string
	// Mounts are extra bind mounts.
	Mounts []Mount
	// Security is how the container is confined; its zero value has no
	// capabilities.
	Security translate.Security
	// Seccomp is the container's seccomp profile (zero: Unconfined).
	Seccomp Seccomp
	// AppArmorProfile is the AppArmor profile the container's processes
	// run under; "" for none.
	AppArmorProfile string
}

// State is a container's lifecycle state.
type State string

const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
)

// Exit reasons, as the kubelet reports them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
)

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	ID, Name   string
	Attempt    int
	State      State
	PID        int
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int
	// Reason is ReasonOOMKilled when the container's cgroup counted an OOM
	// kill, else ReasonCompleted (exit code 0) or ReasonError.
	Reason                          string
	Message                         string
	Image, ImageID, Cgroup, LogPath string
}

// PodState is the observed state of one pod.
type PodState struct {
	UID             types.UID
	Namespace, Name string
	// SandboxPID is the sandbox's PID, 0 when it is not running.
	SandboxPID int
	Containers []ContainerStatus
}
