package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

const subsystem = "kubelet"

// Values of the container_type label, as upstream's.
const (
	Container     = "container"
	InitContainer = "init_container"
)

// Values of the operation_type label of the pod worker duration.
const (
	SyncCreate = "create"
	SyncUpdate = "update"
	SyncSync   = "sync"
	SyncKill   = "kill"
)

var (
	// podStartupDurationBuckets and imagePullDurationBuckets are upstream's.
	podStartupDurationBuckets = []float64{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600}
	imagePullDurationBuckets  = []float64{1, 5, 10, 20, 30, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600}
)

// Kubelet holds the metrics the pod workers and the pod sources feed. It is
// a prometheus.Collector; register it with the registry /metrics serves.
type Kubelet struct {
	podStartSLI       prometheus.Histogram
	podStartTotal     prometheus.Histogram
	podStart          prometheus.Histogram
	podWorker         *prometheus.HistogramVec
	startedContainers *prometheus.CounterVec
	restarts          *prometheus.CounterVec
	oomKills          prometheus.Counter
	imagePull         *prometheus.HistogramVec
	imagePulls        *prometheus.CounterVec

	startup startup
}

var _ prometheus.Collector = (*Kubelet)(nil)

// New returns the metrics, all at zero.
func New() *Kubelet {
	return &Kubelet{
		podStartSLI: prometheus.NewHistogram(prometheus.HistogramOpts{
			Subsystem: subsystem, Name: "pod_start_sli_duration_seconds",
			Help:    "Duration in seconds to start a pod, excluding time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch",
			Buckets: podStartupDurationBuckets,
		}),
		podStartTotal: prometheus.NewHistogram(prometheus.HistogramOpts{
			Subsystem: subsystem, Name: "pod_start_total_duration_seconds",
			Help:    "Duration in seconds to start a pod since creation, including time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch",
			Buckets: podStartupDurationBuckets,
		}),
		podStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Subsystem: subsystem, Name: "pod_start_duration_seconds",
			Help:    "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
			Buckets: podStartupDurationBuckets,
		}),
		podWorker: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Subsystem: subsystem, Name: "pod_worker_duration_seconds",
			Help:    "Duration in seconds to sync a single pod. Broken down by operation type: create, update, sync or kill",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation_type"}),
		startedContainers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: subsystem, Name: "started_containers_total",
			Help: "Cumulative number of containers started",
		}, []string{"container_type"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: subsystem, Name: "container_restarts_total",
			Help: "Cumulative number of containers started again after they exited, by their restart policy or a failed probe (kubelet-lite's own; upstream's kubelet has none)",
		}, []string{"container_type"}),
		oomKills: prometheus.NewCounter(prometheus.CounterOpts{
			Subsystem: subsystem, Name: "container_oom_kills_total",
			Help: "Cumulative number of container attempts the kernel's OOM killer ended (kubelet-lite's own; upstream's kubelet has none)",
		}),
		imagePull: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Subsystem: subsystem, Name: "image_pull_duration_seconds",
			Help:    "Duration in seconds to pull an image.",
			Buckets: imagePullDurationBuckets,
		}, []string{"image_size_in_bytes"}),
		imagePulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: subsystem, Name: "image_pulls_total",
			Help: "Cumulative number of image pulls from a registry, by result: success or failure (kubelet-lite's own; upstream's kubelet has none)",
		}, []string{"result"}),
		startup: startup{pods: map[types.UID]*podStartup{}},
	}
}

func (k *Kubelet) collectors() []prometheus.Collector {
	return []prometheus.Collector{k.podStartSLI, k.podStartTotal, k.podStart, k.podWorker,
		k.startedContainers, k.restarts, k.oomKills, k.imagePull, k.imagePulls}
}

// Describe implements prometheus.Collector.
func (k *Kubelet) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range k.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (k *Kubelet) Collect(ch chan<- prometheus.Metric) {
	for _, c := range k.collectors() {
		c.Collect(ch)
	}
}

// PodSynced observes one sync of a pod's worker; operation is one of the
// Sync constants.
func (k *Kubelet) PodSynced(operation string, d time.Duration) {
	if k == nil {
		return
	}
	k.podWorker.WithLabelValues(operation).Observe(d.Seconds())
}

// PodRunning observes a pod reported Running for the first time, firstSeen
// being when this agent first saw it.
func (k *Kubelet) PodRunning(firstSeen, now time.Time) {
	if k == nil {
		return
	}
	k.podStart.Observe(now.Sub(firstSeen).Seconds())
}

// ContainerStarted counts a container start; restart says the container
// had exited before.
func (k *Kubelet) ContainerStarted(containerType string, restart bool) {
	if k == nil {
		return
	}
	k.startedContainers.WithLabelValues(containerType).Inc()
	if restart {
		k.restarts.WithLabelValues(containerType).Inc()
	}
}

// OOMKilled counts a container attempt ended by the OOM killer.
func (k *Kubelet) OOMKilled() {
	if k == nil {
		return
	}
	k.oomKills.Inc()
}

// ImagePulled observes a pull from a registry for pod uid that ran from
// start to end; size is the image's in bytes (0 when unknown), err the
// pull's result. The pull's time is left out of the pod's start SLI.
func (k *Kubelet) ImagePulled(uid types.UID, start, end time.Time, size int64, err error) {
	if k == nil {
		return
	}
	k.startup.exclude(uid, "", span{start, end})
	if err != nil {
		k.imagePulls.WithLabelValues("failure").Inc()
		return
	}
	k.imagePulls.WithLabelValues("success").Inc()
	k.imagePull.WithLabelValues(imageSizeBucket(size)).Observe(end.Sub(start).Seconds())
}

// InitContainerRan records that attempt id of an init container of pod uid
// ran from start to end; the SLI leaves that time out.
func (k *Kubelet) InitContainerRan(uid types.UID, id string, start, end time.Time) {
	if k == nil || id == "" {
		return
	}
	k.startup.exclude(uid, id, span{start, end})
}

// PodEvents is to be added to the informer of the node's API pods: the
// moment the watch shows a pod with all its containers started, its status
// as the agent reported it, is the end of the pod's start SLI.
func (k *Kubelet) PodEvents() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observePod(obj, time.Now()) },
		UpdateFunc: func(_, obj any) { k.observePod(obj, time.Now()) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok && k != nil {
				k.startup.forget(pod.UID)
			}
		},
	}
}

// observePod takes a pod as the watch showed it at when.
func (k *Kubelet) observePod(obj any, when time.Time) {
	pod, ok := obj.(*corev1.Pod)
	if k == nil || !ok {
		return
	}
	if o, ok := k.startup.observe(pod, when); ok {
		k.podStartSLI.Observe(o.sli.Seconds())
		k.podStartTotal.Observe(o.total.Seconds())
	}
}

// ContainerType is the container_type of container name of pod.
func ContainerType(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return InitContainer
		}
	}
	return Container
}

// imageSizeBuckets are upstream's labels of image_size_in_bytes, each with
// the size it starts above.
var imageSizeBuckets = []struct {
	above uint64
	label string
}{
	{0, "0-10MB"},
	{10 << 20, "10MB-100MB"},
	{100 << 20, "100MB-500MB"},
	{500 << 20, "500MB-1GB"},
	{1 << 30, "1GB-5GB"},
	{5 << 30, "5GB-10GB"},
	{10 << 30, "10GB-20GB"},
	{20 << 30, "20GB-30GB"},
	{30 << 30, "30GB-40GB"},
	{40 << 30, "40GB-60GB"},
	{60 << 30, "60GB-100GB"},
	{100 << 30, "GT100GB"},
}

// imageSizeBucket is the image_size_in_bytes label of a size, "N/A" when
// it is not known, as upstream's.
func imageSizeBucket(size int64) string {
	if size <= 0 {
		return "N/A"
	}
	for i := len(imageSizeBuckets) - 1; i >= 0; i-- {
		if uint64(size) > imageSizeBuckets[i].above {
			return imageSizeBuckets[i].label
		}
	}
	return "N/A"
}
