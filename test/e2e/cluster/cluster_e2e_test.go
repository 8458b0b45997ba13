//go:build e2e

package cluster_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

// TestControlPlane starts the local control plane and checks what the node
// agent relies on: admin access, the Node authorizer and NodeRestriction on a
// node's credentials, and a working controller-manager (node CIDRs, leader
// lease) and scheduler.
func TestControlPlane(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := cluster.Client(t, c.AdminKubeconfig)

	t.Run("admin creates a namespace and a ConfigMap", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "e2e-cluster"}}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace: %v", err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm1"}, Data: map[string]string{"k": "v"}}
		if _, err := admin.CoreV1().ConfigMaps("e2e-cluster").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create configmap: %v", err)
		}
		got, err := admin.CoreV1().ConfigMaps("e2e-cluster").Get(ctx, "cm1", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get configmap: %v", err)
		}
		if got.Data["k"] != "v" {
			t.Errorf("configmap data = %v, want k=v", got.Data)
		}
	})

	t.Run("node credentials are limited to their own node", func(t *testing.T) {
		nodeA := cluster.Client(t, c.NodeKubeconfig(t, "node-a"))
		if _, err := nodeA.CoreV1().Nodes().Create(ctx, newNode("node-a"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("node-a creates its own Node: %v", err)
		}
		_, err := nodeA.CoreV1().Nodes().Create(ctx, newNode("node-b"), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("node-a creates Node node-b: err = %v, want 403 Forbidden", err)
		}
		_, err = nodeA.CoreV1().ConfigMaps("e2e-cluster").Get(ctx, "cm1", metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("node-a reads a ConfigMap no pod of it uses: err = %v, want 403 Forbidden", err)
		}
	})

	t.Run("controller-manager assigns the node a pod CIDR", func(t *testing.T) {
		var cidr string
		err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			n, err := admin.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			cidr = n.Spec.PodCIDR
			return cidr != "", nil
		})
		if err != nil {
			t.Fatalf("node-a got no spec.podCIDR: %v", err)
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil || p.Bits() != 24 || !netip.MustParsePrefix("10.244.0.0/16").Contains(p.Addr()) {
			t.Errorf("node-a podCIDR = %q, want a /24 in 10.244.0.0/16", cidr)
		}
	})

	for _, comp := range []struct {
		name  string
		port  int
		lease string
	}{
		{"kube-controller-manager", c.ControllerManagerPort, "kube-controller-manager"},
		{"kube-scheduler", c.SchedulerPort, "kube-scheduler"},
	} {
		t.Run(comp.name+" is healthy and leads", func(t *testing.T) {
			if body, err := healthz(ctx, comp.port); err != nil || body != "ok" {
				t.Errorf("%s /healthz = %q, %v; want ok", comp.name, body, err)
			}
			var lease *coordinationv1.Lease
			err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				l, err := admin.CoordinationV1().Leases("kube-system").Get(ctx, comp.lease, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					return false, nil
				}
				lease = l
				return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", err
			})
			if err != nil {
				t.Fatalf("lease kube-system/%s has no holder: %v (lease %+v)", comp.lease, err, lease)
			}
		})
	}
}

func newNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
}

// healthz reads https://127.0.0.1:port/healthz. The components serve it with
// a self-signed certificate, and on loopback only.
func healthz(ctx context.Context, port int) (string, error) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("status %s", resp.Status)
	}
	return string(body), err
}
