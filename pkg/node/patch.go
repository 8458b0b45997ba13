package node

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// statusPatch returns a strategic merge patch from old to updated that
// touches only status and metadata: updated's spec is replaced by old's, so
// fields others own there (spec.podCIDR, taints) are never written. As
// upstream's preparePatchBytesforNodeStatus, it replaces status.addresses
// as a whole when they changed, because their merge key (type) is not
// unique.
func statusPatch(old, updated *corev1.Node) ([]byte, error) {
	oldData, err := json.Marshal(old)
	if err != nil {
		return nil, fmt.Errorf("marshal node: %w", err)
	}
	diff := updated.DeepCopy()
	diff.Spec = old.Spec
	replaceAddresses := len(old.Status.Addresses) > 0 &&
		!equality.Semantic.DeepEqual(old.Status.Addresses, updated.Status.Addresses)
	if replaceAddresses {
		diff.Status.Addresses = old.Status.Addresses
	}
	newData, err := json.Marshal(diff)
	if err != nil {
		return nil, fmt.Errorf("marshal node: %w", err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("create node status patch: %w", err)
	}
	if !replaceAddresses {
		return patch, nil
	}
	return withAddresses(patch, updated.Status.Addresses)
}

// withAddresses sets status.addresses in patch to addrs with a
// "$patch: replace" directive.
func withAddresses(patch []byte, addrs []corev1.NodeAddress) ([]byte, error) {
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("decode node status patch: %w", err)
	}
	status, _ := p["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
		p["status"] = status
	}
	list := make([]any, 0, len(addrs)+1)
	for _, a := range addrs {
		list = append(list, a)
	}
	status["addresses"] = append(list, map[string]any{"$patch": "replace"})
	out, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode node status patch: %w", err)
	}
	return out, nil
}
