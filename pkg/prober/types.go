package prober

import (
	"context"
	"errors"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

// Kind is the kind of a probe.
type Kind string

const (
	Liveness  Kind = "Liveness"
	Readiness Kind = "Readiness"
	Startup   Kind = "Startup"
)

// Status is the outcome of a probe.
type Status string

const (
	Unknown Status = "Unknown"
	Success Status = "Success"
	Failure Status = "Failure"
)

// Result is what a worker reports once a threshold is reached.
type Result struct {
	Status Status
	// Message is the output or error of the last probe.
	Message string
	// GracePeriod is, for a liveness or startup failure, how long the
	// container gets to stop when it is killed for it: the probe's
	// terminationGracePeriodSeconds, else the pod's (default 30 s).
	GracePeriod time.Duration
}

// Execer runs a command in a running container; *sandbox.Runtime is one.
// It returns the command's exit code; an error wrapping
// context.DeadlineExceeded means the command was killed at the timeout.
type Execer interface {
	Exec(ctx context.Context, podUID types.UID, container string, opts sandbox.ExecOptions) (int, error)
}

// Dialer dials a connection; *net.Dialer is one (for hostNetwork pods).
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// PodNetwork is how probes and hooks reach a pod.
type PodNetwork struct {
	// Dialer dials from inside the pod's network namespace.
	Dialer Dialer
	// IP is the pod's IP, the default host of httpGet and tcpSocket
	// handlers; "" means 127.0.0.1 (a pod with only loopback).
	IP string
}

// Config configures a Manager.
type Config struct {
	// Execer runs exec handlers. Required.
	Execer Execer
	// Network returns how to reach a pod, at each probe (the sandbox may
	// have been recreated). Required.
	Network func(podUID types.UID) (PodNetwork, error)
	// Results is called, from a worker's goroutine, when a probe's result
	// changes. Required.
	Results func(podUID types.UID, container string, kind Kind, result Result)
	// Recorder, if set, gets an Unhealthy event per failed probe attempt
	// and a ProbeWarning per warning, as upstream records them.
	Recorder record.EventRecorder
	// Clock is the time source (default: the real clock).
	Clock clock.WithTicker
}

func (c Config) validate() error {
	var errs []error
	if c.Execer == nil {
		errs = append(errs, errors.New("no Execer"))
	}
	if c.Network == nil {
		errs = append(errs, errors.New("no Network"))
	}
	if c.Results == nil {
		errs = append(errs, errors.New("no Results callback"))
	}
	return errors.Join(errs...)
}

// Upstream's defaults for probe fields the apiserver would have set
// (static pods are not defaulted by an apiserver).
const (
	defaultPeriod           = 10 * time.Second
	defaultTimeout          = time.Second
	defaultFailureThreshold = 3
	defaultGracePeriod      = 30 * time.Second
	// MinimumGracePeriod is the least time a container gets to stop after
	// its preStop hook, as upstream gives it.
	MinimumGracePeriod = 2 * time.Second
)

// timing is a probe's timing fields with defaults applied.
type timing struct {
	initialDelay, period, timeout      time.Duration
	successThreshold, failureThreshold int
}

func probeTiming(p *corev1.Probe) timing {
	t := timing{
		initialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		period:           time.Duration(p.PeriodSeconds) * time.Second,
		timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		successThreshold: int(p.SuccessThreshold),
		failureThreshold: int(p.FailureThreshold),
	}
	if t.period <= 0 {
		t.period = defaultPeriod
	}
	if t.timeout <= 0 {
		t.timeout = defaultTimeout
	}
	if t.successThreshold <= 0 {
		t.successThreshold = 1
	}
	if t.failureThreshold <= 0 {
		t.failureThreshold = defaultFailureThreshold
	}
	return t
}

// gracePeriod is how long a container killed for a failed probe gets.
func gracePeriod(pod *corev1.Pod, p *corev1.Probe) time.Duration {
	if p != nil && p.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return defaultGracePeriod
}
