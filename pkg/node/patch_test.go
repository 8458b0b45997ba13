package node

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

func TestStatusPatch(t *testing.T) {
	addr := func(typ corev1.NodeAddressType, a string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: typ, Address: a}
	}
	tests := []struct {
		name         string
		oldAddrs     []corev1.NodeAddress
		newAddrs     []corev1.NodeAddress
		newSpecCIDR  string
		newLabel     string
		wantAddrs    []corev1.NodeAddress
		wantSpecCIDR string
		wantLabel    string
	}{
		{
			name:         "two InternalIPs become one: replaced, not merged by type",
			oldAddrs:     []corev1.NodeAddress{addr("InternalIP", "10.0.0.1"), addr("InternalIP", "10.0.0.2"), addr("Hostname", "n")},
			newAddrs:     []corev1.NodeAddress{addr("InternalIP", "10.0.0.3"), addr("Hostname", "n")},
			wantAddrs:    []corev1.NodeAddress{addr("InternalIP", "10.0.0.3"), addr("Hostname", "n")},
			wantSpecCIDR: "10.244.0.0/24", wantLabel: "old",
		},
		{
			name:         "one InternalIP becomes two",
			oldAddrs:     []corev1.NodeAddress{addr("InternalIP", "10.0.0.1"), addr("Hostname", "n")},
			newAddrs:     []corev1.NodeAddress{addr("InternalIP", "10.0.0.1"), addr("InternalIP", "10.0.0.2"), addr("Hostname", "n")},
			wantAddrs:    []corev1.NodeAddress{addr("InternalIP", "10.0.0.1"), addr("InternalIP", "10.0.0.2"), addr("Hostname", "n")},
			wantSpecCIDR: "10.244.0.0/24", wantLabel: "old",
		},
		{
			name:         "the InternalIP changes",
			oldAddrs:     []corev1.NodeAddress{addr("InternalIP", "10.0.0.1"), addr("Hostname", "n")},
			newAddrs:     []corev1.NodeAddress{addr("InternalIP", "10.0.0.9"), addr("Hostname", "n")},
			wantAddrs:    []corev1.NodeAddress{addr("InternalIP", "10.0.0.9"), addr("Hostname", "n")},
			wantSpecCIDR: "10.244.0.0/24", wantLabel: "old",
		},
		{
			name:        "spec changes in the updated copy are not sent; labels are",
			oldAddrs:    []corev1.NodeAddress{addr("InternalIP", "10.0.0.1")},
			newAddrs:    []corev1.NodeAddress{addr("InternalIP", "10.0.0.1")},
			newSpecCIDR: "", newLabel: "new",
			wantAddrs:    []corev1.NodeAddress{addr("InternalIP", "10.0.0.1")},
			wantSpecCIDR: "10.244.0.0/24", wantLabel: "new",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"l": "old"}},
				Spec:       corev1.NodeSpec{PodCIDR: "10.244.0.0/24"},
				Status:     corev1.NodeStatus{Addresses: tc.oldAddrs},
			}
			updated := old.DeepCopy()
			updated.Status.Addresses = tc.newAddrs
			updated.Spec.PodCIDR = tc.newSpecCIDR
			if tc.newLabel != "" {
				updated.Labels["l"] = tc.newLabel
			}
			patch, err := statusPatch(old, updated)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(patch, &fields); err != nil {
				t.Fatal(err)
			}
			if _, ok := fields["spec"]; ok {
				t.Errorf("patch has spec: %s", patch)
			}
			oldJSON, _ := json.Marshal(old)
			merged, err := strategicpatch.StrategicMergePatch(oldJSON, patch, corev1.Node{})
			if err != nil {
				t.Fatal(err)
			}
			var got corev1.Node
			if err := json.Unmarshal(merged, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Status.Addresses, tc.wantAddrs) {
				t.Errorf("addresses = %v, want %v (patch %s)", got.Status.Addresses, tc.wantAddrs, patch)
			}
			if got.Spec.PodCIDR != tc.wantSpecCIDR || got.Labels["l"] != tc.wantLabel {
				t.Errorf("podCIDR, label = %q, %q; want %q, %q", got.Spec.PodCIDR, got.Labels["l"], tc.wantSpecCIDR, tc.wantLabel)
			}
		})
	}
}
