package podsource

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func apiPod(name, uid string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(uid), Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c", Image: "x:1"}}},
	}
}

// names returns the sorted "name source-annotation" of pods.
func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		s := p.Name + " " + p.Annotations[ConfigSourceAnnotation]
		if p.DeletionTimestamp != nil {
			s += " deleting"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func nextSet(t *testing.T, ch <-chan []*corev1.Pod) []*corev1.Pod {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
		return nil
	}
}

func TestAPIReportsNodePodsButNotMirrors(t *testing.T) {
	done := apiPod("done", "u-done", nil)
	done.Status.Phase = corev1.PodSucceeded
	client := fake.NewClientset(
		apiPod("web", "u-web", nil),
		done,
		apiPod("static-node-a", "u-mirror", map[string]string{ConfigMirrorAnnotation: "hash1", ConfigSourceAnnotation: "file"}),
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &API{Client: client, NodeName: "node-a"}
	updates := make(chan []*corev1.Pod, 16)
	go func() { _ = src.Run(ctx, func(p []*corev1.Pod) { updates <- p }) }()

	got := nextSet(t, updates)
	if want := []string{"done api", "web api"}; !slices.Equal(names(got), want) {
		t.Fatalf("first set = %q, want %q", names(got), want)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" {
			continue
		}
		var sel string
		switch a := a.(type) {
		case k8stesting.ListAction:
			sel = a.GetListRestrictions().Fields.String()
		case k8stesting.WatchAction:
			sel = a.GetWatchRestrictions().Fields.String()
		}
		if sel != "spec.nodeName=node-a" {
			t.Errorf("%s pods with field selector %q, want spec.nodeName=node-a", a.GetVerb(), sel)
		}
	}
	if p, ok := src.Pod("default", "static-node-a"); !ok || p.UID != "u-mirror" {
		t.Errorf("Pod(default, static-node-a) = %v, %v; want the mirror pod", p, ok)
	}

	pods := client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, apiPod("new", "u-new", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"done api", "new api", "web api"}; !slices.Equal(names(nextSet(t, updates)), want) {
		t.Fatalf("after create: want %q", want)
	}

	// A status-only change is the node's own write: no update.
	web, _ := pods.Get(ctx, "web", metav1.GetOptions{})
	web.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-updates:
		t.Fatalf("status-only change sent a set: %q", names(p))
	case <-time.After(300 * time.Millisecond):
	}

	// Graceful deletion: the pod is reported with its deletionTimestamp.
	web, _ = pods.Get(ctx, "web", metav1.GetOptions{})
	now := metav1.Now()
	web.DeletionTimestamp = &now
	if _, err := pods.Update(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"done api", "new api", "web api deleting"}; !slices.Equal(names(nextSet(t, updates)), want) {
		t.Fatalf("after deletionTimestamp: want %q", want)
	}
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"done api", "new api"}; !slices.Equal(names(nextSet(t, updates)), want) {
		t.Fatalf("after delete: want %q", want)
	}
	// The cache's own objects were not modified by the source.
	cached, _ := src.Pod("default", "new")
	if _, ok := cached.Annotations[ConfigSourceAnnotation]; ok {
		t.Error("the source annotated the informer's cached object")
	}
}

func TestAPISendsAnEmptyFirstSet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &API{Client: fake.NewClientset(), NodeName: "node-a"}
	updates := make(chan []*corev1.Pod, 1)
	go func() { _ = src.Run(ctx, func(p []*corev1.Pod) { updates <- p }) }()
	if got := nextSet(t, updates); len(got) != 0 {
		t.Fatalf("first set of an empty node = %q, want none", names(got))
	}
}

func TestAPINeedsClientAndNode(t *testing.T) {
	err := (&API{NodeName: "n"}).Run(context.Background(), func([]*corev1.Pod) {})
	if err == nil {
		t.Fatal("Run without a client succeeded")
	}
}
