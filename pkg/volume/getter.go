package volume

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Getter is what volumes need from the apiserver. Implementations are safe
// for concurrent use; a missing object is reported with an error for which
// apierrors.IsNotFound is true.
type Getter interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// ServiceAccountToken creates a token for the service account
	// (TokenRequest); the result has Status.Token and
	// Status.ExpirationTimestamp set.
	ServiceAccountToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// DefaultCacheTTL is how long NewAPIGetter keeps a ConfigMap or Secret (or
// its absence) before it GETs it again.
const DefaultCacheTTL = 10 * time.Second

// lastKnownFor is how long NewAPIGetter keeps an object it found, to
// answer with while the apiserver cannot be reached.
const lastKnownFor = 24 * time.Hour

// NewAPIGetter returns a Getter that GETs ConfigMaps and Secrets directly
// (the Node authorizer allows a node those of its pods only, so no watch)
// and keeps each result, found or not found, for DefaultCacheTTL. When a
// GET fails otherwise than NotFound (the apiserver is away), it answers with
// the object last found, as upstream's watch-based cache would, so that a
// container can restart during an apiserver outage.
func NewAPIGetter(client kubernetes.Interface) Getter {
	return &apiGetter{client: client, ttl: DefaultCacheTTL, keep: lastKnownFor, now: time.Now, cache: map[cacheKey]cacheEntry{}}
}

type cacheKey struct{ kind, namespace, name string }

type cacheEntry struct {
	obj     any
	err     error
	fetched time.Time
}

type apiGetter struct {
	client kubernetes.Interface
	ttl    time.Duration // an entry is fresh for ttl
	keep   time.Duration // a found object answers failed GETs for keep
	now    func() time.Time

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
}

func (g *apiGetter) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	obj, err := g.get(ctx, cacheKey{"configmap", namespace, name}, func() (any, error) {
		return g.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ConfigMap), nil
}

func (g *apiGetter) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	obj, err := g.get(ctx, cacheKey{"secret", namespace, name}, func() (any, error) {
		return g.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

func (g *apiGetter) ServiceAccountToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	tr, err := g.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create token for service account %s/%s: %w", namespace, serviceAccount, err)
	}
	return tr, nil
}

// get returns the cached object or error of key while it is fresh, else
// fetches it; only successes and NotFound are cached.
func (g *apiGetter) get(ctx context.Context, key cacheKey, fetch func() (any, error)) (any, error) {
	g.mu.Lock()
	e, ok := g.cache[key]
	g.mu.Unlock()
	if ok && g.now().Sub(e.fetched) < g.ttl {
		return e.obj, e.err
	}
	obj, err := fetch()
	if err != nil && !apierrors.IsNotFound(err) {
		if ok && e.err == nil && g.now().Sub(e.fetched) < g.keep {
			klog.V(2).InfoS("Using the last known object while the apiserver cannot be read", "kind", key.kind,
				"object", klog.KRef(key.namespace, key.name), "fetched", e.fetched, "err", err)
			return e.obj, nil
		}
		return nil, fmt.Errorf("get %s %s/%s: %w", key.kind, key.namespace, key.name, err)
	}
	g.mu.Lock()
	g.cache[key] = cacheEntry{obj: obj, err: err, fetched: g.now()}
	g.prune()
	g.mu.Unlock()
	return obj, err
}

// prune drops the entries past use (found objects after keep, not-found
// ones after ttl) so the cache does not grow with objects no pod uses any
// more; the caller holds g.mu.
func (g *apiGetter) prune() {
	now := g.now()
	for k, e := range g.cache {
		if age := now.Sub(e.fetched); age >= g.keep || (e.err != nil && age >= g.ttl) {
			delete(g.cache, k)
		}
	}
}
