package volume

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
)

const (
	// defaultTokenSeconds is the API default of expirationSeconds.
	defaultTokenSeconds = 3600
	// maxTokenAge: a token older than this is renewed whatever its expiry
	// (the API server may extend expiry to a year), as upstream.
	maxTokenAge = 24 * time.Hour
)

// tokenKey names one serviceAccountToken source of a pod.
type tokenKey struct {
	volume string
	source int
}

// token is a token the pod holds and when to renew it.
type token struct {
	value     string
	refreshAt time.Time
}

// token returns the pod's token for the source, requesting a new one when
// there is none yet or it is due: at 80% of its lifetime, or after a day.
func (m *Manager) token(ctx context.Context, st *podState, key tokenKey, src *corev1.ServiceAccountTokenProjection) (string, error) {
	now := m.now()
	if t, ok := st.tokens[key]; ok && now.Before(t.refreshAt) {
		return t.value, nil
	}
	if m.cfg.Getter == nil {
		return "", fmt.Errorf("serviceAccountToken: %w", errNoGetter)
	}
	pod := st.pod
	seconds := int64(defaultTokenSeconds)
	if src.ExpirationSeconds != nil {
		seconds = *src.ExpirationSeconds
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &seconds,
		BoundObjectRef: &authenticationv1.BoundObjectReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
		},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := m.cfg.Getter.ServiceAccountToken(ctx, pod.Namespace, sa, req)
	if err != nil {
		return "", fmt.Errorf("request token of service account %q: %w", sa, err)
	}
	if tr.Status.Token == "" {
		return "", fmt.Errorf("request token of service account %q: empty token", sa)
	}
	st.tokens[key] = &token{value: tr.Status.Token, refreshAt: refreshTime(now, tr.Status.ExpirationTimestamp.Time, seconds)}
	return tr.Status.Token, nil
}

// refreshTime is when a token issued at issued, expiring at exp, requested
// for seconds, is renewed: at 80% of its lifetime (the shorter of what was
// requested and what was granted), and at most a day after issue.
func refreshTime(issued, exp time.Time, seconds int64) time.Time {
	life := time.Duration(seconds) * time.Second
	if granted := exp.Sub(issued); !exp.IsZero() && granted < life {
		life = granted
	}
	if life > maxTokenAge {
		life = maxTokenAge / 4 * 5 // 80% of it is a day
	}
	return issued.Add(life * 4 / 5)
}
