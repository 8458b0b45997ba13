package node

// Machine reads the facts a Node reports about the machine it runs on.
// Each call reads afresh; implementations must be safe for use by one
// goroutine at a time.
type Machine interface {
	// Info returns what identifies the machine and its software.
	Info() (Info, error)
	// Memory returns the machine's memory totals.
	Memory() (Memory, error)
	// Filesystem returns the size and free space of the filesystem that
	// holds path.
	Filesystem(path string) (Filesystem, error)
	// PIDs returns how many tasks exist and how many may.
	PIDs() (PIDs, error)
}

// Info identifies the machine and its software. Empty strings mean unknown.
type Info struct {
	NumCPU        int
	MachineID     string
	SystemUUID    string
	BootID        string
	KernelVersion string
	OSImage       string
}

// Memory holds /proc/meminfo's MemTotal and MemAvailable in bytes.
type Memory struct {
	Total     uint64
	Available uint64
}

// Filesystem holds a filesystem's size in bytes and inodes; Inodes is 0 on
// filesystems that do not count them.
type Filesystem struct {
	Capacity   uint64
	Available  uint64
	Inodes     uint64
	InodesFree uint64
}

// PIDs holds the number of tasks (threads) and the most the kernel allows.
type PIDs struct {
	Running uint64
	Max     uint64
}
