package status

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
)

func nodePod(name, uid string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(uid), Generation: 1,
			Annotations: map[string]string{podsource.ConfigSourceAnnotation: podsource.APISource}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
}

func runningStatus(restarts int32) corev1.PodStatus {
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.0.7",
		ContainerStatuses: []corev1.ContainerStatus{running("app", true)}}
	st.ContainerStatuses[0].RestartCount = restarts
	return st
}

// uidChecking makes the fake refuse a status patch whose metadata.uid is
// not the pod's, as the apiserver does.
func uidChecking(c *fake.Clientset) {
	c.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		var body struct {
			Metadata struct{ UID types.UID } `json:"metadata"`
		}
		if err := json.Unmarshal(p.GetPatch(), &body); err != nil {
			return true, nil, err
		}
		cur, err := c.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), p.GetNamespace(), p.GetName())
		if err == nil && body.Metadata.UID != "" && cur.(*corev1.Pod).UID != body.Metadata.UID {
			// What kube-apiserver v1.37 answers.
			return true, nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Pod").GroupKind(), p.GetName(), field.ErrorList{
				field.Invalid(field.NewPath("metadata", "uid"), body.Metadata.UID, "field is immutable")})
		}
		return false, nil, nil
	})
}

func start(t *testing.T, c *fake.Clientset, edit func(*Config)) *Manager {
	t.Helper()
	return run(t, build(t, c, edit))
}

func build(t *testing.T, c *fake.Clientset, edit func(*Config)) *Manager {
	t.Helper()
	cfg := Config{Client: c, NodeName: "node-a", HostIPs: []string{"192.0.2.10"}, Batch: 30 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func run(t *testing.T, m *Manager) *Manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func count(c *fake.Clientset, verb, name string) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() != verb {
			continue
		}
		if g, ok := a.(interface{ GetName() string }); ok && g.GetName() == name {
			n++
		}
	}
	return n
}

func apiPodNow(t *testing.T, c *fake.Clientset, name string) *corev1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestManagerBatchesAndTheNewestWins(t *testing.T) {
	web, db := nodePod("web", "u-web"), nodePod("db", "u-db")
	c := fake.NewClientset(web, db)
	uidChecking(c)
	m := start(t, c, func(cfg *Config) { cfg.Batch = 300 * time.Millisecond })
	for i := range int32(5) {
		if err := m.Set(web, runningStatus(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Set(db, corev1.PodStatus{Phase: corev1.PodPending}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both sent", func() bool { return m.Unsent() == 0 })
	if n := count(c, "patch", "web"); n != 1 {
		t.Errorf("web was patched %d times for 5 quick sets, want 1", n)
	}
	got := apiPodNow(t, c, "web").Status
	var conds []string
	for _, cd := range got.Conditions {
		conds = append(conds, string(cd.Type)+"="+string(cd.Status))
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"phase", got.Phase, corev1.PodRunning},
		{"restarts (the newest set)", got.ContainerStatuses[0].RestartCount, int32(4)},
		{"conditions", strings.Join(conds, ","), "PodReadyToStartContainers=True,Initialized=True,ContainersReady=True,Ready=True,PodScheduled=True"},
		{"podIPs", got.PodIPs[0].IP, "10.1.0.7"},
		{"hostIP", got.HostIP, "192.0.2.10"},
		{"hostIPs", len(got.HostIPs), 1},
		{"observedGeneration", got.ObservedGeneration, int64(1)},
		{"db phase", apiPodNow(t, c, "db").Status.Phase, corev1.PodPending},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestManagerKeepsTransitionTimes(t *testing.T) {
	web := nodePod("web", "u-web")
	c := fake.NewClientset(web)
	m := build(t, c, nil)
	clock := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	m.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	run(t, m)
	_ = m.Set(web, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waitingFor("app", "ContainerCreating")}})
	eventually(t, "first sent", func() bool { return m.Unsent() == 0 })
	mu.Lock()
	clock = clock.Add(time.Minute)
	mu.Unlock()
	_ = m.Set(web, runningStatus(0))
	eventually(t, "second sent", func() bool { return m.Unsent() == 0 })
	var got []string
	for _, cd := range apiPodNow(t, c, "web").Status.Conditions {
		got = append(got, string(cd.Type)+" "+cd.LastTransitionTime.UTC().Format("15:04"))
	}
	want := []string{"PodReadyToStartContainers 10:01", "Initialized 10:00", "ContainersReady 10:01", "Ready 10:01", "PodScheduled 00:00"}
	if !slices.Equal(got, want) {
		t.Errorf("transition times %q, want %q", got, want)
	}
}

func TestManagerRetriesAndLosesNothing(t *testing.T) {
	var pods []*corev1.Pod
	c := fake.NewClientset()
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		p := nodePod(n, "u-"+n)
		pods = append(pods, p)
		if err := c.Tracker().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	var down atomic.Bool
	var refused atomic.Int32
	down.Store(true)
	c.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			refused.Add(1)
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		return false, nil, nil
	})
	m := start(t, c, nil)
	for _, p := range pods {
		_ = m.Set(p, corev1.PodStatus{Phase: corev1.PodPending})
	}
	eventually(t, "retries while down", func() bool { return refused.Load() >= int32(3*len(pods)) })
	// Newer statuses during the outage replace the unsent ones.
	for _, p := range pods {
		_ = m.Set(p, runningStatus(2))
	}
	time.Sleep(100 * time.Millisecond)
	if n := m.Unsent(); n != len(pods) {
		t.Fatalf("unsent during the outage = %d, want %d", n, len(pods))
	}
	down.Store(false)
	eventually(t, "all sent after the outage", func() bool { return m.Unsent() == 0 })
	for _, p := range pods {
		st := apiPodNow(t, c, p.Name).Status
		if st.Phase != corev1.PodRunning || st.ContainerStatuses[0].RestartCount != 2 {
			t.Errorf("%s: phase %s restarts %v, want Running with the newest status", p.Name, st.Phase, st.ContainerStatuses)
		}
	}
}

func TestManagerDropsAStatusForAPodThatIsGoneOrReplaced(t *testing.T) {
	replaced := nodePod("web", "u-new")
	c := fake.NewClientset(replaced)
	uidChecking(c)
	m := start(t, c, nil)
	_ = m.Set(nodePod("web", "u-old"), runningStatus(0))
	_ = m.Set(nodePod("gone", "u-gone"), runningStatus(0))
	eventually(t, "given up", func() bool { return m.Unsent() == 0 })
	if got := apiPodNow(t, c, "web").Status.Phase; got != corev1.PodPending {
		t.Errorf("the new pod named web got the old pod's status: phase %s", got)
	}
}

func TestManagerSendsStaticPodStatusToTheMirror(t *testing.T) {
	static := nodePod("etcd-node-a", "hash-2")
	static.Annotations = map[string]string{podsource.ConfigSourceAnnotation: "file", podsource.ConfigHashAnnotation: "hash-2"}
	mirror := nodePod("etcd-node-a", "mirror-uid")
	mirror.Annotations = map[string]string{podsource.ConfigMirrorAnnotation: "hash-1"} // outdated: not yet recreated
	c := fake.NewClientset(mirror)
	uidChecking(c)
	m := start(t, c, nil)
	_ = m.Set(static, runningStatus(0))
	time.Sleep(200 * time.Millisecond)
	if n := count(c, "patch", "etcd-node-a"); n != 0 {
		t.Fatalf("patched a mirror of another hash %d times", n)
	}
	// Mirrors recreates the mirror with the new hash.
	_ = c.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), "default", "etcd-node-a")
	mirror = nodePod("etcd-node-a", "mirror-uid-2")
	mirror.Annotations = map[string]string{podsource.ConfigMirrorAnnotation: "hash-2"}
	if err := c.Tracker().Add(mirror); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sent to the new mirror", func() bool { return m.Unsent() == 0 })
	if got := apiPodNow(t, c, "etcd-node-a"); got.UID != "mirror-uid-2" || got.Status.Phase != corev1.PodRunning {
		t.Errorf("mirror %s phase %s, want mirror-uid-2 Running", got.UID, got.Status.Phase)
	}
	// Deleting a static pod's status leaves its mirror to podsource.Mirrors.
	_ = m.Delete(static.UID)
	eventually(t, "forgotten", func() bool { return m.Unsent() == 0 })
	if n := count(c, "delete", "etcd-node-a"); n != 0 {
		t.Errorf("deleted the mirror pod %d times", n)
	}
}

func TestManagerDelete(t *testing.T) {
	now := metav1.Now()
	deleting := nodePod("deleting", "u-deleting")
	deleting.DeletionTimestamp = &now
	unset := nodePod("never-set", "u-never-set")
	unset.DeletionTimestamp = &now
	done := nodePod("done", "u-done")
	c := fake.NewClientset(deleting, unset, done)
	m := start(t, c, nil)
	_ = m.Set(deleting, corev1.PodStatus{Phase: corev1.PodSucceeded})
	_ = m.Set(done, corev1.PodStatus{Phase: corev1.PodSucceeded})
	_ = m.Set(nodePod("gone", "u-gone"), corev1.PodStatus{Phase: corev1.PodSucceeded})
	for _, uid := range []types.UID{"u-deleting", "u-done", "u-gone", "u-never-set", "u-static-unknown"} {
		if err := m.Delete(uid); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "deletions done", func() bool { return m.Unsent() == 0 })
	var deleted []string
	for _, a := range c.Actions() {
		d, ok := a.(k8stesting.DeleteAction)
		if !ok {
			continue
		}
		o := d.GetDeleteOptions()
		if o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || o.Preconditions == nil || o.Preconditions.UID == nil {
			t.Errorf("delete %s with %+v, want grace 0 and a UID precondition", d.GetName(), o)
			continue
		}
		deleted = append(deleted, d.GetName()+" "+string(*o.Preconditions.UID))
	}
	slices.Sort(deleted)
	if want := []string{"deleting u-deleting", "never-set u-never-set"}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %q, want %q (a pod not being deleted stays)", deleted, want)
	}
	if got := apiPodNow(t, c, "done").Status.Phase; got != corev1.PodSucceeded {
		t.Errorf("done: phase %s, want the last status Succeeded sent before forgetting", got)
	}
	m.mu.Lock()
	left := len(m.pods)
	m.mu.Unlock()
	if left != 0 {
		t.Errorf("%d pods still remembered after Delete", left)
	}
}

// trackerPods is a PodGetter reading the fake's objects, as the API
// source's cache would.
type trackerPods struct{ c *fake.Clientset }

func (p trackerPods) Pod(namespace, name string) (*corev1.Pod, bool) {
	o, err := p.c.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), namespace, name)
	if err != nil {
		return nil, false
	}
	return o.(*corev1.Pod), true
}

func TestManagerResync(t *testing.T) {
	cases := []struct {
		name         string
		cache        bool
		quietPatches bool // no patch while the apiserver holds the node's status
	}{
		{"without a cache every pod is sent again", false, false},
		{"with a cache only changed pods are sent again", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			web := nodePod("web", "u-web")
			c := fake.NewClientset(web)
			m := start(t, c, func(cfg *Config) {
				cfg.Resync = 50 * time.Millisecond
				if tc.cache {
					cfg.Pods = trackerPods{c}
				}
			})
			_ = m.Set(web, runningStatus(0))
			eventually(t, "sent", func() bool { return m.Unsent() == 0 })
			before := count(c, "patch", "web")
			time.Sleep(300 * time.Millisecond)
			if quiet := count(c, "patch", "web") == before; quiet != tc.quietPatches {
				t.Errorf("%d patches in 300ms of resyncs of an up-to-date pod", count(c, "patch", "web")-before)
			}
			// Someone overwrites the status; the resync puts the node's back.
			p := apiPodNow(t, c, "web")
			p.Status.Phase = corev1.PodUnknown
			if _, err := c.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "resynced", func() bool { return apiPodNow(t, c, "web").Status.Phase == corev1.PodRunning })
		})
	}
}

func TestNewRejectsMissingParts(t *testing.T) {
	_, err := New(Config{})
	if err == nil || !strings.Contains(err.Error(), "Client") || !strings.Contains(err.Error(), "NodeName") {
		t.Fatalf("New(empty) = %v, want it to name Client and NodeName", err)
	}
}

// TestPatchBody applies the patch as the apiserver does and checks what
// stays and what goes.
func TestPatchBody(t *testing.T) {
	old := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{UID: "u1", Name: "web"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Message: "old message", Reason: "OldReason",
			PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
			Conditions:        []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionFalse}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "a"}, {Name: "b"}}},
	}
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.2", PodIPs: []corev1.PodIP{{IP: "10.0.0.2"}},
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "b"}}}
	body, err := patchBody("u1", st)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := json.Marshal(old)
	out, err := strategicpatch.StrategicMergePatch(orig, body, corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	var conds, ips, ctrs []string
	for _, c := range got.Status.Conditions {
		conds = append(conds, string(c.Type)+"="+string(c.Status))
	}
	for _, ip := range got.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, c := range got.Status.ContainerStatuses {
		ctrs = append(ctrs, c.Name)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"uid", got.UID, types.UID("u1")},
		{"phase", got.Status.Phase, corev1.PodRunning},
		{"message cleared", got.Status.Message, ""},
		{"reason cleared", got.Status.Reason, ""},
		{"podIP", got.Status.PodIP, "10.0.0.2"},
		{"podIPs replaced", strings.Join(ips, ","), "10.0.0.2"},
		{"conditions merged by type", strings.Join(conds, ","), "PodScheduled=True,Ready=True"},
		{"container statuses replaced", strings.Join(ctrs, ","), "b"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
