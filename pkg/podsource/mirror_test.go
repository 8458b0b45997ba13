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

func staticPod(name, hash string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "kube-system", UID: types.UID(hash),
			Labels:      map[string]string{"app": name},
			Annotations: map[string]string{ConfigSourceAnnotation: "file", ConfigHashAnnotation: hash},
		},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c", Image: "x:" + hash}}},
	}
}

func mirrorPod(name, hash string) *corev1.Pod {
	p := staticPod(name, hash)
	p.UID = types.UID("mirror-uid-" + name)
	p.Annotations[ConfigMirrorAnnotation] = hash
	return p
}

// writes lists the create and delete calls a client saw, as "verb name".
func writes(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		switch a := a.(type) {
		case k8stesting.CreateAction:
			out = append(out, "create "+a.GetObject().(metav1.Object).GetName())
		case k8stesting.DeleteAction:
			out = append(out, "delete "+a.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func TestMirrorsSync(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", UID: "node-uid"}}
	apiPodSameNode := apiPod("regular", "u-regular", nil)
	apiPodSameNode.Namespace = "kube-system"
	client := fake.NewClientset(node,
		mirrorPod("kept-node-a", "h1"),    // up to date
		mirrorPod("changed-node-a", "h2"), // static pod now has h3
		mirrorPod("gone-node-a", "h4"),    // static pod removed
		apiPodSameNode,                    // not a mirror: never touched
	)
	desired := []*corev1.Pod{
		staticPod("kept-node-a", "h1"),
		staticPod("changed-node-a", "h3"),
		staticPod("new-node-a", "h5"),
		apiPod("from-api", "u-api", map[string]string{ConfigSourceAnnotation: APISource}),
	}
	m := &Mirrors{Client: client, NodeName: "node-a"}
	ctx := context.Background()
	if err := m.Sync(ctx, desired); err != nil {
		t.Fatal(err)
	}
	want := []string{"create changed-node-a", "create new-node-a", "delete changed-node-a", "delete gone-node-a"}
	if got := writes(client); !slices.Equal(got, want) {
		t.Errorf("first sync wrote %q, want %q", got, want)
	}
	list, _ := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	var got []string
	for _, p := range list.Items {
		got = append(got, p.Name+" "+p.Annotations[ConfigMirrorAnnotation])
	}
	slices.Sort(got)
	if want := []string{"changed-node-a h3", "kept-node-a h1", "new-node-a h5", "regular "}; !slices.Equal(got, want) {
		t.Errorf("pods after sync = %q, want %q", got, want)
	}

	created, err := client.CoreV1().Pods("kube-system").Get(ctx, "new-node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"owner kind", created.OwnerReferences[0].Kind, "Node"},
		{"owner name", created.OwnerReferences[0].Name, "node-a"},
		{"owner uid", created.OwnerReferences[0].UID, types.UID("node-uid")},
		{"owner is controller", *created.OwnerReferences[0].Controller, true},
		{"node name", created.Spec.NodeName, "node-a"},
		{"image", created.Spec.Containers[0].Image, "x:h5"},
		{"label", created.Labels["app"], "new-node-a"},
		{"source annotation", created.Annotations[ConfigSourceAnnotation], "file"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// Idempotent: a second sync writes nothing.
	client.ClearActions()
	if err := m.Sync(ctx, desired); err != nil {
		t.Fatal(err)
	}
	if got := writes(client); len(got) != 0 {
		t.Errorf("second sync wrote %q, want nothing", got)
	}
}

func TestMirrorsRecreateADeletingMirror(t *testing.T) {
	m := mirrorPod("s-node-a", "h1")
	now := metav1.Now()
	m.DeletionTimestamp = &now
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, m)
	if err := (&Mirrors{Client: client, NodeName: "node-a"}).Sync(context.Background(), []*corev1.Pod{staticPod("s-node-a", "h1")}); err != nil {
		t.Fatal(err)
	}
	if got, want := writes(client), []string{"create s-node-a", "delete s-node-a"}; !slices.Equal(got, want) {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

func TestMirrorsDeleteWithGraceZeroAndUID(t *testing.T) {
	client := fake.NewClientset(mirrorPod("gone-node-a", "h1"))
	if err := (&Mirrors{Client: client, NodeName: "node-a"}).Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			o := d.GetDeleteOptions()
			if o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || o.Preconditions == nil || *o.Preconditions.UID != "mirror-uid-gone-node-a" {
				t.Errorf("delete options = %+v, want grace 0 and UID precondition mirror-uid-gone-node-a", o)
			}
			return
		}
	}
	t.Fatal("no delete")
}

func TestMirrorsNoNodeIsAnError(t *testing.T) {
	client := fake.NewClientset()
	err := (&Mirrors{Client: client, NodeName: "node-a"}).Sync(context.Background(), []*corev1.Pod{staticPod("s-node-a", "h1")})
	if err == nil {
		t.Fatal("Sync without the Node object succeeded; a mirror needs the node's UID")
	}
}

func TestMirrorsRunSyncsAfterSet(t *testing.T) {
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, mirrorPod("old-node-a", "h0"))
	m := &Mirrors{Client: client, NodeName: "node-a", Resync: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	time.Sleep(50 * time.Millisecond)
	if got := writes(client); len(got) != 0 {
		t.Fatalf("Run wrote %q before the first Set", got)
	}
	m.Set([]*corev1.Pod{staticPod("s-node-a", "h1")})
	deadline := time.Now().Add(5 * time.Second)
	want := []string{"create s-node-a", "delete old-node-a"}
	for !slices.Equal(writes(client), want) {
		if time.Now().After(deadline) {
			t.Fatalf("wrote %q, want %q", writes(client), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
