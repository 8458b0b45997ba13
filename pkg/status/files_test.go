package status

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestFilesRoundTrip(t *testing.T) {
	f := Files{Dir: filepath.Join(t.TempDir(), "status")}
	if recs, err := f.List(); err != nil || len(recs) != 0 {
		t.Fatalf("List of a missing dir = %v, %v; want nothing", recs, err)
	}
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u1", Namespace: "default", Name: "web"}}
	db := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u2", Namespace: "default", Name: "db"}}
	waiting := corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}},
	}}}
	if err := f.Set(web, waiting); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(db, corev1.PodStatus{Phase: corev1.PodRunning}); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(web, corev1.PodStatus{Phase: corev1.PodFailed}); err != nil { // overwrite
		t.Fatal(err)
	}
	recs, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Name != "db" || recs[1].Name != "web" || recs[1].Status.Phase != corev1.PodFailed {
		t.Fatalf("List = %+v, want db Running then web Failed", recs)
	}
	for _, uid := range []string{"u1", "u1", "missing"} { // idempotent
		if err := f.Delete(types.UID(uid)); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(f.Dir)
	if len(entries) != 1 {
		t.Errorf("files left: %d, want only db's", len(entries))
	}
}
