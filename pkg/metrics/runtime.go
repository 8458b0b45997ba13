package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

var (
	runningPodsDesc = prometheus.NewDesc(subsystem+"_running_pods",
		"Number of pods that have a running pod sandbox", nil, nil)
	runningContainersDesc = prometheus.NewDesc(subsystem+"_running_containers",
		"Number of containers currently running", []string{"container_state"}, nil)
)

// containerStates are the container_state values, as upstream's kubelet
// reports them from the runtime.
var containerStates = []string{"created", "running", "exited", "unknown"}

// runtimeCollector counts the runtime's pods and containers at each scrape.
type runtimeCollector struct {
	list func() ([]sandbox.PodState, error)
}

// NewRuntimeCollector reports kubelet_running_pods and
// kubelet_running_containers from what list returns at each scrape.
func NewRuntimeCollector(list func() ([]sandbox.PodState, error)) prometheus.Collector {
	return runtimeCollector{list: list}
}

func (r runtimeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runningPodsDesc
	ch <- runningContainersDesc
}

func (r runtimeCollector) Collect(ch chan<- prometheus.Metric) {
	pods, err := r.list()
	if err != nil {
		klog.ErrorS(err, "Cannot list the runtime's pods for the running pods metrics")
		ch <- prometheus.NewInvalidMetric(runningPodsDesc, err)
		return
	}
	running := 0
	states := map[string]int{}
	for _, p := range pods {
		if p.SandboxPID > 0 {
			running++
		}
		for _, c := range p.Containers {
			switch c.State {
			case sandbox.StateCreated, sandbox.StateRunning, sandbox.StateExited:
				states[string(c.State)]++
			default:
				states["unknown"]++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(runningPodsDesc, prometheus.GaugeValue, float64(running))
	for _, s := range containerStates {
		ch <- prometheus.MustNewConstMetric(runningContainersDesc, prometheus.GaugeValue, float64(states[s]), s)
	}
}
