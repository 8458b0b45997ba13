package translate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// validate rejects what the kubelet would not run, or what would make an
// unsafe or ambiguous cgroup path, with an error naming the field.
func validate(pod *corev1.Pod, node Node) error {
	if pod == nil {
		return errors.New("pod is nil")
	}
	if node.PodPidsLimit < -1 {
		return fmt.Errorf("node pod pids limit %d: must be -1 (max), 0 (unset) or positive", node.PodPidsLimit)
	}
	id := pod.Namespace + "/" + pod.Name
	if err := validateUID(string(pod.UID)); err != nil {
		return fmt.Errorf("pod %q: %w", id, err)
	}
	if len(pod.Spec.Containers) == 0 {
		return fmt.Errorf("pod %q: spec.containers is empty", id)
	}
	if pod.Spec.Resources != nil && (len(pod.Spec.Resources.Requests) > 0 || len(pod.Spec.Resources.Limits) > 0) {
		return fmt.Errorf("pod %q: spec.resources: pod-level resources are not supported", id)
	}
	if err := validateNonNegative(pod.Spec.Overhead, "spec.overhead"); err != nil {
		return fmt.Errorf("pod %q: %w", id, err)
	}
	seen := make(map[string]bool, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for _, group := range []struct {
		kind string
		cs   []corev1.Container
	}{{"init container", pod.Spec.InitContainers}, {"container", pod.Spec.Containers}} {
		for i := range group.cs {
			c := &group.cs[i]
			if err := validateContainer(c, seen); err != nil {
				return fmt.Errorf("%s %q: %w", group.kind, c.Name, err)
			}
		}
	}
	return nil
}

// validateUID accepts UIDs that are safe as one cgroup path element:
// letters, digits, '-' and '_' (UUIDs and static pod hashes are).
func validateUID(uid string) error {
	if uid == "" {
		return errors.New("metadata.uid is empty")
	}
	if len(uid) > 128 {
		return fmt.Errorf("metadata.uid is longer than 128 characters")
	}
	for _, r := range uid {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("metadata.uid %q: only letters, digits, '-' and '_' are supported", uid)
		}
	}
	return nil
}

// validateContainer checks one container's name (a DNS-1123 label, so a
// safe cgroup name that cannot be SandboxCgroupName, and unique in the pod)
// and its resources.
func validateContainer(c *corev1.Container, seen map[string]bool) error {
	if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
		return fmt.Errorf("name: %s", strings.Join(errs, "; "))
	}
	if seen[c.Name] {
		return errors.New("name: used by more than one container")
	}
	seen[c.Name] = true
	r := c.Resources
	if err := validateNonNegative(r.Requests, "resources.requests"); err != nil {
		return err
	}
	if err := validateNonNegative(r.Limits, "resources.limits"); err != nil {
		return err
	}
	for _, name := range sortedNames(r.Limits) {
		lim := r.Limits[name]
		if req, ok := r.Requests[name]; ok && lim.Cmp(req) < 0 {
			return fmt.Errorf("resources.limits.%s (%s) is below resources.requests.%s (%s)",
				name, lim.String(), name, req.String())
		}
	}
	return nil
}

func validateNonNegative(l corev1.ResourceList, field string) error {
	for _, name := range sortedNames(l) {
		if q := l[name]; q.Sign() < 0 {
			return fmt.Errorf("%s.%s (%s) is negative", field, name, q.String())
		}
	}
	return nil
}

// sortedNames makes error messages deterministic.
func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for name := range l {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
