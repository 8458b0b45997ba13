package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// NormalizeRef returns the canonical form of an image reference, e.g.
// "busybox" → "index.docker.io/library/busybox:latest".
func NormalizeRef(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	return r.Name(), nil
}

// DefaultPullPolicy is the API server's default for an empty pull policy:
// Always for the tag "latest" or no tag (unless pinned by digest), else
// IfNotPresent.
func DefaultPullPolicy(ref string) (corev1.PullPolicy, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	if _, ok := r.(name.Digest); ok {
		return corev1.PullIfNotPresent, nil
	}
	if r.Identifier() == name.DefaultTag {
		return corev1.PullAlways, nil
	}
	return corev1.PullIfNotPresent, nil
}

// Ensure makes an image present according to a pull policy and returns it;
// pulled tells whether it was fetched from the registry. onPull, if not nil,
// is called just before a pull starts.
func (s *Store) Ensure(ctx context.Context, ref string, policy corev1.PullPolicy, auth authn.Authenticator, onPull func()) (Image, bool, error) {
	if policy == "" {
		p, err := DefaultPullPolicy(ref)
		if err != nil {
			return Image{}, false, err
		}
		policy = p
	}
	switch policy {
	case corev1.PullAlways:
	case corev1.PullIfNotPresent, corev1.PullNever:
		img, err := s.Get(ref)
		if err == nil {
			return img, false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Image{}, false, err
		}
		if policy == corev1.PullNever {
			return Image{}, false, fmt.Errorf("image %q is not present with pull policy Never: %w", ref, ErrNotFound)
		}
	default:
		return Image{}, false, fmt.Errorf("image %q: unknown pull policy %q", ref, policy)
	}
	klog.FromContext(ctx).V(2).Info("Pulling image", "image", ref, "policy", policy)
	if onPull != nil {
		onPull()
	}
	img, err := s.Pull(ctx, ref, auth)
	if err != nil {
		return Image{}, false, err
	}
	return img, true, nil
}
