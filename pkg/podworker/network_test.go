package podworker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

// fakeNetwork answers Setup with ips or err and counts the calls.
type fakeNetwork struct {
	ips   []string
	err   error
	calls []int // the sandbox PID of each Setup
}

func (f *fakeNetwork) Setup(_ context.Context, _ *corev1.Pod, pid int) ([]string, error) {
	f.calls = append(f.calls, pid)
	return f.ips, f.err
}

func (f *fakeNetwork) Teardown(context.Context, *corev1.Pod) error { return nil }

var _ Network = (*fakeNetwork)(nil)

func TestEnsureNetwork(t *testing.T) {
	notReady := fmt.Errorf("%w: no CNI network configuration in /etc/cni/net.d", ErrNetworkNotReady)
	conflict := fmt.Errorf("%w: host port 8080/tcp is already used by pod default/a", ErrHostPortConflict)
	cases := []struct {
		name        string
		hostNetwork bool
		net         fakeNetwork
		pids        []int // the sandbox PID at each sync
		wantCalls   []int
		wantIPs     []string
		wantWait    waiting
		wantEvent   string
	}{
		{name: "attached once per sandbox", net: fakeNetwork{ips: []string{"10.88.0.2"}},
			pids: []int{100, 100, 100}, wantCalls: []int{100}, wantIPs: []string{"10.88.0.2"}},
		{name: "a new sandbox is attached again", net: fakeNetwork{ips: []string{"10.88.0.2"}},
			pids: []int{100, 200}, wantCalls: []int{100, 200}, wantIPs: []string{"10.88.0.2"}},
		{name: "host network is never attached", hostNetwork: true, net: fakeNetwork{ips: []string{"10.88.0.2"}},
			pids: []int{100}},
		{name: "network not ready: retried, the pod waits creating", net: fakeNetwork{err: notReady},
			pids: []int{100, 100}, wantCalls: []int{100, 100},
			wantWait:  waiting{Reason: "ContainerCreating", Message: notReady.Error()},
			wantEvent: "Warning NetworkNotReady " + notReady.Error()},
		{name: "host port conflict", net: fakeNetwork{err: conflict},
			pids: []int{100}, wantCalls: []int{100},
			wantWait:  waiting{Reason: "ContainerCreating", Message: "Failed to create pod sandbox: " + conflict.Error()},
			wantEvent: "Warning FailedCreatePodSandBox Failed to create pod sandbox: " + conflict.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			p := &Workers{cfg: Config{Network: &tc.net, Recorder: rec}}
			pod := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: tc.hostNetwork}}
			wk := newWorker(p, pod)
			var w waiting
			var err error
			for _, pid := range tc.pids {
				wk.sandboxPID = pid
				w, err = wk.ensureNetwork(context.Background(), pod)
			}
			if !slices.Equal(tc.net.calls, tc.wantCalls) {
				t.Errorf("Setup calls with PIDs %v, want %v", tc.net.calls, tc.wantCalls)
			}
			if !slices.Equal(wk.ips(), tc.wantIPs) {
				t.Errorf("IPs %v, want %v", wk.ips(), tc.wantIPs)
			}
			if w != tc.wantWait {
				t.Errorf("waiting %+v, want %+v", w, tc.wantWait)
			}
			if (err != nil) != (tc.net.err != nil) || (err != nil && !errors.Is(err, tc.net.err)) {
				t.Errorf("err %v, want one wrapping %v", err, tc.net.err)
			}
			var event string
			select {
			case event = <-rec.Events:
			default:
			}
			if event != tc.wantEvent {
				t.Errorf("event %q, want %q", event, tc.wantEvent)
			}
		})
	}
}

func TestPodIPsInStatusAndEnv(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	st := buildStatus(pod, statusInput{PodIPs: []string{"10.88.0.7", "fd00::7"}})
	if st.PodIP != "10.88.0.7" || len(st.PodIPs) != 2 || st.PodIPs[0].IP != "10.88.0.7" || st.PodIPs[1].IP != "fd00::7" {
		t.Errorf("status podIP %q podIPs %v, want 10.88.0.7 and [10.88.0.7 fd00::7]", st.PodIP, st.PodIPs)
	}
	// A status from before (another sandbox's IP) is overridden by the attachment's.
	pod.Status.PodIP, pod.Status.PodIPs = "10.88.0.3", []corev1.PodIP{{IP: "10.88.0.3"}}
	for path, want := range map[string]string{"status.podIP": "10.88.0.7", "status.podIPs": "10.88.0.7,fd00::7"} {
		if got, err := fieldRef(withIPs(pod, []string{"10.88.0.7", "fd00::7"}), path, nil); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if got, _ := fieldRef(withIPs(pod, nil), "status.podIP", nil); got != "10.88.0.3" {
		t.Errorf("status.podIP without an attachment = %q, want the status's 10.88.0.3", got)
	}
	if strings.Contains(pod.Status.PodIP, "7") {
		t.Errorf("withIPs changed the pod it was given")
	}
}
