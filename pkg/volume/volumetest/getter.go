// Package volumetest has a fake volume.Getter for tests.
package volumetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubelet-lite/kubelet-lite/pkg/volume"
)

var _ volume.Getter = (*Getter)(nil)

// TokenCall is one ServiceAccountToken call the fake answered.
type TokenCall struct {
	Namespace, ServiceAccount string
	Request                   *authenticationv1.TokenRequest
}

// Getter is a map-backed volume.Getter. Tokens are "token-1", "token-2", …
// expiring ExpirationSeconds after Now (or at Expiry, when set).
type Getter struct {
	mu         sync.Mutex
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	calls      []TokenCall
	// Err, when set, is returned by every call.
	Err error
	// Now is the fake's clock (default time.Now).
	Now func() time.Time
	// Expiry, when not zero, is every token's expiration time.
	Expiry time.Time
}

// New returns an empty fake.
func New() *Getter {
	return &Getter{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

// SetConfigMap stores (or replaces) a ConfigMap.
func (g *Getter) SetConfigMap(cm *corev1.ConfigMap) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.configMaps[cm.Namespace+"/"+cm.Name] = cm
}

// SetSecret stores (or replaces) a Secret.
func (g *Getter) SetSecret(s *corev1.Secret) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.secrets[s.Namespace+"/"+s.Name] = s
}

// TokenCalls returns the ServiceAccountToken calls so far.
func (g *Getter) TokenCalls() []TokenCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]TokenCall(nil), g.calls...)
}

func (g *Getter) ConfigMap(_ context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.Err != nil {
		return nil, g.Err
	}
	if cm, ok := g.configMaps[namespace+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (g *Getter) Secret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.Err != nil {
		return nil, g.Err
	}
	if s, ok := g.secrets[namespace+"/"+name]; ok {
		return s.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (g *Getter) ServiceAccountToken(_ context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.Err != nil {
		return nil, g.Err
	}
	g.calls = append(g.calls, TokenCall{Namespace: namespace, ServiceAccount: serviceAccount, Request: req.DeepCopy()})
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	exp := g.Expiry
	if exp.IsZero() {
		secs := int64(3600)
		if req.Spec.ExpirationSeconds != nil {
			secs = *req.Spec.ExpirationSeconds
		}
		exp = now().Add(time.Duration(secs) * time.Second)
	}
	out := req.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{
		Token:               fmt.Sprintf("token-%d", len(g.calls)),
		ExpirationTimestamp: metav1.NewTime(exp),
	}
	return out, nil
}
