package node

import (
	"fmt"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Upstream's default hard eviction thresholds, which also make the
// pressure conditions.
const (
	evictionMemoryAvailable = 100 << 20 // memory.available < 100Mi
	evictionNodeFsPercent   = 10        // nodefs.available < 10%
	evictionInodesPercent   = 5         // nodefs.inodesFree < 5%
	pidAvailablePercent     = 10        // our own: upstream has no default
)

// facts is one reading of the machine.
type facts struct {
	info Info
	mem  Memory
	fs   Filesystem
	pids PIDs
}

// readFacts reads everything the status needs from the Machine.
func (c *Controller) readFacts() (facts, error) {
	var f facts
	var err error
	m := c.cfg.Machine
	if f.info, err = m.Info(); err != nil {
		return facts{}, fmt.Errorf("read machine info: %w", err)
	}
	if f.mem, err = m.Memory(); err != nil {
		return facts{}, fmt.Errorf("read memory: %w", err)
	}
	if f.fs, err = m.Filesystem(c.cfg.RootDir); err != nil {
		return facts{}, fmt.Errorf("read filesystem: %w", err)
	}
	if f.pids, err = m.PIDs(); err != nil {
		return facts{}, fmt.Errorf("read pids: %w", err)
	}
	return f, nil
}

// setStatus sets node's status to what the machine says now. If the
// machine cannot be read, it keeps the rest of the status and makes the node
// NotReady with the reason; the pressure conditions keep their values.
func (c *Controller) setStatus(node *corev1.Node) {
	now := metav1.NewTime(c.cfg.Clock.Now())
	f, factsErr := c.readFacts()
	err := factsErr
	if err == nil {
		c.setMachineStatus(node, f)
		err = c.cfg.Ready()
	}
	if err == nil {
		err = missingCapacity(node.Status.Capacity)
	}
	setReady(node, err, now)
	if factsErr == nil {
		setPressure(node, corev1.NodeMemoryPressure, memoryPressure(f.mem), now)
		setPressure(node, corev1.NodeDiskPressure, diskPressure(f.fs), now)
		setPressure(node, corev1.NodePIDPressure, pidPressure(f.pids), now)
	} else {
		for _, t := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
			heartbeat(node, t, now)
		}
	}
}

// setMachineStatus sets capacity, allocatable, addresses, nodeInfo and
// daemonEndpoints.
func (c *Controller) setMachineStatus(node *corev1.Node, f facts) {
	st := &node.Status
	st.Capacity = capacity(f, c.cfg.MaxPods)
	st.Allocatable = allocatable(st.Capacity, c.cfg.SystemReserved, c.cfg.KubeReserved)
	st.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: c.cfg.NodeIP.String()},
		{Type: corev1.NodeHostName, Address: c.cfg.NodeName},
	}
	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               f.info.MachineID,
		SystemUUID:              f.info.SystemUUID,
		BootID:                  f.info.BootID,
		KernelVersion:           f.info.KernelVersion,
		OSImage:                 f.info.OSImage,
		ContainerRuntimeVersion: "kubelet-lite://" + c.cfg.Version,
		KubeletVersion:          c.cfg.Version,
		// KubeProxyVersion stays empty: deprecated, and upstream stopped
		// setting it (KEP-4004).
		OperatingSystem: "linux",
		Architecture:    runtime.GOARCH,
	}
	st.DaemonEndpoints.KubeletEndpoint.Port = int32(c.cfg.KubeletPort)
}

// Allocatable reads the machine and returns the allocatable resources the
// node reports, which pods are admitted against.
func (c *Controller) Allocatable() (corev1.ResourceList, error) {
	f, err := c.readFacts()
	if err != nil {
		return nil, err
	}
	return allocatable(capacity(f, c.cfg.MaxPods), c.cfg.SystemReserved, c.cfg.KubeReserved), nil
}

// capacity is the node's capacity on a machine with f.
func capacity(f facts, maxPods int) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(int64(f.info.NumCPU)*1000, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(int64(f.mem.Total), resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(f.fs.Capacity), resource.BinarySI),
	}
}

// allocatable returns capacity minus the reservations and upstream's hard
// eviction reservation (memory.available 100Mi, nodefs.available 10% of
// ephemeral-storage), never below zero.
func allocatable(capacity corev1.ResourceList, reserved ...corev1.ResourceList) corev1.ResourceList {
	eviction := corev1.ResourceList{
		corev1.ResourceMemory: *resource.NewQuantity(evictionMemoryAvailable, resource.BinarySI),
	}
	if fs, ok := capacity[corev1.ResourceEphemeralStorage]; ok {
		eviction[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(
			int64(float64(fs.Value())*evictionNodeFsPercent/100), resource.BinarySI)
	}
	out := corev1.ResourceList{}
	for name, q := range capacity {
		v := q.DeepCopy()
		for _, r := range append(reserved, eviction) {
			if s, ok := r[name]; ok {
				v.Sub(s)
			}
		}
		if v.Sign() < 0 {
			v.Set(0)
		}
		out[name] = v
	}
	return out
}

// missingCapacity says which resources the Ready condition requires that
// capacity lacks, as upstream's ReadyCondition does.
func missingCapacity(capacity corev1.ResourceList) error {
	var missing []string
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		if _, ok := capacity[r]; !ok {
			missing = append(missing, string(r))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing node capacity for resources: %v", missing)
	}
	return nil
}

func memoryPressure(m Memory) bool { return m.Available < evictionMemoryAvailable }

func diskPressure(fs Filesystem) bool {
	if fs.Capacity > 0 && fs.Available*100 < fs.Capacity*evictionNodeFsPercent {
		return true
	}
	return fs.Inodes > 0 && fs.InodesFree*100 < fs.Inodes*evictionInodesPercent
}

func pidPressure(p PIDs) bool {
	if p.Max == 0 {
		return false
	}
	avail := uint64(0)
	if p.Running < p.Max {
		avail = p.Max - p.Running
	}
	return avail*100 < p.Max*pidAvailablePercent
}
