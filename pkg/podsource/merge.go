package podsource

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// Source is a place pods come from. Run sends the source's whole set of pods
// to update, first once and then after every change, until ctx ends. Dir and
// API are sources.
type Source interface {
	Run(ctx context.Context, update func([]*corev1.Pod)) error
}

// Merge runs sources and sends the union of their latest sets to update
// whenever one of them changes. Nothing is sent until every source has sent
// its first set, so a consumer that removes what it is not sent (the pod
// workers clean up orphans on their first update) never removes the pods of
// a source that has not reported yet. update is never called concurrently.
// A pod two sources report (same UID) is sent once, from the first source.
// When one source fails, Merge stops the others and returns its error;
// otherwise it returns nil when ctx ends.
func Merge(ctx context.Context, update func([]*corev1.Pod), sources ...Source) error {
	if len(sources) == 0 {
		return errors.New("merge: no sources")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		sets = make([][]*corev1.Pod, len(sources))
		got  = make([]bool, len(sources))
	)
	send := func(i int, pods []*corev1.Pod) {
		mu.Lock()
		defer mu.Unlock()
		sets[i], got[i] = pods, true
		for _, ok := range got {
			if !ok {
				klog.V(4).InfoS("Waiting for every pod source's first set", "source", fmt.Sprintf("%T", sources[i]))
				return
			}
		}
		update(union(sets))
	}
	errs := make(chan error, len(sources))
	for i, s := range sources {
		go func() {
			err := s.Run(ctx, func(pods []*corev1.Pod) { send(i, pods) })
			if err != nil {
				err = fmt.Errorf("pod source %T: %w", s, err)
				cancel()
			}
			errs <- err
		}()
	}
	var all []error
	for range sources {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func union(sets [][]*corev1.Pod) []*corev1.Pod {
	seen := map[types.UID]bool{}
	out := []*corev1.Pod{}
	for _, set := range sets {
		for _, p := range set {
			if seen[p.UID] {
				continue
			}
			seen[p.UID] = true
			out = append(out, p)
		}
	}
	return out
}
