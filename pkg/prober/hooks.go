package prober

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// RunHook runs a postStart or preStop handler of a container of pod, as
// upstream does: exec fails on a non-zero exit; httpGet fails only when
// no response arrives (its status code is ignored; an HTTPS request that
// gets an HTTP answer is retried over HTTP); sleep waits, and fails when
// ctx ends first. The caller kills the container when postStart fails
// (reason FailedPostStartHook) and records FailedPostStartHook or
// FailedPreStopHook events from the error.
func (m *Manager) RunHook(ctx context.Context, pod *corev1.Pod, container string, h *corev1.LifecycleHandler) error {
	c := findContainer(pod, container)
	if c == nil {
		return fmt.Errorf("hook of %s/%s: no container %q", pod.Namespace, pod.Name, container)
	}
	switch {
	case h.Exec != nil:
		o, err := execProbe(ctx, m.target(pod, c, PodNetwork{}), h.Exec.Command)
		if err == nil && o.status != Success {
			err = errors.New(o.msg)
		}
		if err != nil {
			return fmt.Errorf("exec lifecycle hook (%v) for container %q in pod %s/%s failed: %w",
				h.Exec.Command, container, pod.Namespace, pod.Name, err)
		}
		return nil
	case h.HTTPGet != nil:
		if err := m.httpHook(ctx, pod, c, h.HTTPGet); err != nil {
			return fmt.Errorf("http lifecycle hook (%s) for container %q in pod %s/%s failed: %w",
				h.HTTPGet.Path, container, pod.Namespace, pod.Name, err)
		}
		return nil
	case h.Sleep != nil:
		timer := m.clock.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return errors.New("container terminated before sleep hook finished")
		case <-timer.C():
			return nil
		}
	}
	return fmt.Errorf("hook of container %q in pod %s/%s has no handler", container, pod.Namespace, pod.Name)
}

func (m *Manager) target(pod *corev1.Pod, c *corev1.Container, pn PodNetwork) target {
	return target{podUID: pod.UID, container: c, execer: m.cfg.Execer, net: pn}
}

func (m *Manager) httpHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, a *corev1.HTTPGetAction) error {
	pn, err := m.cfg.Network(pod.UID)
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	if pn.Dialer == nil {
		return errors.New("pod network: no dialer")
	}
	t := m.target(pod, c, pn)
	req, err := newRequest(ctx, a, t, "lifecycle")
	if err != nil {
		return err
	}
	client := newHTTPClient(pn.Dialer)
	res, err := client.Do(req)
	if res != nil {
		res.Body.Close()
	}
	if errors.Is(err, http.ErrSchemeMismatch) {
		klog.V(1).InfoS("HTTPS lifecycle hook got an HTTP response, retrying with HTTP", "pod", klog.KObj(pod), "container", c.Name)
		req = req.Clone(ctx)
		req.URL.Scheme = "http"
		req.Header.Del("Authorization")
		res, err = client.Do(req)
		if res != nil {
			res.Body.Close()
		}
	}
	return err
}

// PreStop runs the container's preStop hook, if it has one, within grace
// and returns the grace period left for SIGTERM → SIGKILL: grace minus the
// hook's time, at least MinimumGracePeriod, as upstream counts it. The
// error is the hook's (for a FailedPreStopHook event); the caller goes on
// stopping the container either way.
func (m *Manager) PreStop(ctx context.Context, pod *corev1.Pod, container string, grace time.Duration) (time.Duration, error) {
	c := findContainer(pod, container)
	var err error
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		start := m.clock.Now()
		hctx, cancel := context.WithTimeout(ctx, grace)
		err = m.RunHook(hctx, pod, container, c.Lifecycle.PreStop)
		cancel()
		grace -= m.clock.Since(start)
	}
	return max(grace, MinimumGracePeriod), err
}
