package podsource

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// chanSource sends each set it receives on its channel; it fails with err
// when err is set.
type chanSource struct {
	sets chan []*corev1.Pod
	err  error
}

func (s *chanSource) Run(ctx context.Context, update func([]*corev1.Pod)) error {
	if s.err != nil {
		return s.err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case set := <-s.sets:
			update(set)
		}
	}
}

func pods(uids ...string) []*corev1.Pod {
	out := []*corev1.Pod{}
	for _, u := range uids {
		out = append(out, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(u), Name: u}})
	}
	return out
}

func uids(ps []*corev1.Pod) string {
	var s []string
	for _, p := range ps {
		s = append(s, string(p.UID))
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func TestMergeWaitsForEverySourceThenSendsTheUnion(t *testing.T) {
	a := &chanSource{sets: make(chan []*corev1.Pod)}
	b := &chanSource{sets: make(chan []*corev1.Pod)}
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan []*corev1.Pod, 16)
	done := make(chan error)
	go func() { done <- Merge(ctx, func(p []*corev1.Pod) { updates <- p }, a, b) }()

	steps := []struct {
		name string
		src  *chanSource
		set  []*corev1.Pod
		want string // "" means no update
	}{
		{"a first, b silent: nothing", a, pods("a1", "a2"), ""},
		{"a again, b silent: nothing", a, pods("a1"), ""},
		{"b first: union", b, pods("b1"), "a1,b1"},
		{"b empty", b, pods(), "a1"},
		{"a changes", a, pods("a1", "a3"), "a1,a3"},
		{"same uid in both: once", b, pods("a1", "b2"), "a1,a3,b2"},
	}
	for _, s := range steps {
		s.src.sets <- s.set
		if s.want == "" {
			select {
			case got := <-updates:
				t.Fatalf("%s: got update %q", s.name, uids(got))
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if got := uids(nextSet(t, updates)); got != s.want {
			t.Fatalf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Merge after cancel = %v, want nil", err)
	}
}

func TestMergeReturnsASourceError(t *testing.T) {
	boom := errors.New("boom")
	ok := &chanSource{sets: make(chan []*corev1.Pod)}
	err := Merge(context.Background(), func([]*corev1.Pod) {}, ok, &chanSource{err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Merge = %v, want it to wrap boom", err)
	}
}
