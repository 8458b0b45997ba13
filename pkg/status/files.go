package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Record is one pod's reported status.
type Record struct {
	UID       types.UID        `json:"uid"`
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	Status    corev1.PodStatus `json:"status"`
}

// Files keeps one JSON file per pod in Dir. Writes are atomic (write, then
// rename), so readers in other processes never see half a file.
type Files struct {
	Dir string
}

// Set records pod's status.
func (f Files) Set(pod *corev1.Pod, st corev1.PodStatus) error {
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("status dir: %w", err)
	}
	data, err := json.Marshal(Record{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, Status: st})
	if err != nil {
		return fmt.Errorf("encode status of %s: %w", pod.UID, err)
	}
	tmp, err := os.CreateTemp(f.Dir, ".status-")
	if err != nil {
		return fmt.Errorf("write status of %s: %w", pod.UID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write status of %s: %w", pod.UID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write status of %s: %w", pod.UID, err)
	}
	if err := os.Rename(tmp.Name(), f.path(pod.UID)); err != nil {
		return fmt.Errorf("write status of %s: %w", pod.UID, err)
	}
	return nil
}

// Delete forgets a pod's status; forgetting an unknown pod is success.
func (f Files) Delete(uid types.UID) error {
	if err := os.Remove(f.path(uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete status of %s: %w", uid, err)
	}
	return nil
}

// List returns every recorded status, by namespace and name.
func (f Files) List() ([]Record, error) {
	entries, err := os.ReadDir(f.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list statuses: %w", err)
	}
	var out []Record
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(f.Dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return nil, fmt.Errorf("read status: %w", err)
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("decode status %s: %w", e.Name(), err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out, nil
}

func (f Files) path(uid types.UID) string {
	return filepath.Join(f.Dir, string(uid)+".json")
}
