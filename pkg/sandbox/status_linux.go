package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/pid1"
)

// unknownExitCode is reported when PID 1 itself was killed before it could
// record the app's exit status (as the kubelet does for an unknown status).
const unknownExitCode = 137

// ContainerStatus returns the status of a container of a pod, or an error
// wrapping ErrNotFound. It only reads the state directory.
func (r *Runtime) ContainerStatus(uid types.UID, name string) (ContainerStatus, error) {
	if err := errors.Join(validUID(uid), validName(name)); err != nil {
		return ContainerStatus{}, fmt.Errorf("container status: %w", err)
	}
	return r.status(uid, name)
}

func (r *Runtime) status(uid types.UID, name string) (ContainerStatus, error) {
	dir := r.layout.container(uid, name)
	var meta containerRecord
	if err := readJSON(filepath.Join(dir, metaFile), &meta); err != nil {
		return ContainerStatus{}, fmt.Errorf("container %s/%s: %w", uid, name, err)
	}
	s := ContainerStatus{
		ID: meta.ID, Name: meta.Name, Attempt: meta.Attempt, State: StateCreated,
		StartedAt: meta.StartedAt, Image: meta.Image, ImageID: meta.ImageID,
		Cgroup: meta.Cgroup, LogPath: meta.LogPath,
	}
	if meta.PID == 0 {
		return s, nil
	}
	if alive(meta.PID, meta.PIDStart) {
		s.State, s.PID = StateRunning, meta.PID
		return s, nil
	}
	var rec exitRecord
	if err := readJSON(filepath.Join(dir, finalFile), &rec); err != nil {
		rec = observeExit(dir, meta, time.Time{})
	}
	s.State = StateExited
	s.StartedAt, s.FinishedAt = rec.StartedAt, rec.FinishedAt
	s.ExitCode, s.Reason, s.Message = rec.ExitCode, rec.Reason, rec.Message
	return s, nil
}

// observeExit derives a container's exit from what PID 1 recorded and the
// OOM kill count of its cgroup. seen is when the exit was observed, the
// finish time if PID 1 recorded none.
func observeExit(dir string, meta containerRecord, seen time.Time) exitRecord {
	rec := exitRecord{ExitCode: unknownExitCode, StartedAt: meta.StartedAt, FinishedAt: seen,
		Message: "PID 1 was killed before it recorded the exit status"}
	es, recorded := readExitStatus(filepath.Join(dir, exitFile))
	if recorded {
		rec.ExitCode, rec.Message = es.ExitCode, es.Message
		if !es.StartedAt.IsZero() {
			rec.StartedAt = es.StartedAt
		}
		if !es.FinishedAt.IsZero() {
			rec.FinishedAt = es.FinishedAt
		}
	}
	oom, _ := oomKills(meta.CgroupPaths)
	rec.Reason = exitReason(rec.ExitCode, oom)
	if rec.Reason == ReasonOOMKilled {
		// Without a record the OOM killer took PID 1 itself (its binary's
		// pages count as its RSS), or memory.oom.group killed the whole
		// container; either way what PID 1 said is not the story.
		rec.Message = oomMessage(meta.CgroupPaths)
	}
	return rec
}

// exitReason is the kubelet's reason for an exit.
func exitReason(code int, oomKills uint64) string {
	switch {
	case oomKills > 0:
		return ReasonOOMKilled
	case code == 0:
		return ReasonCompleted
	default:
		return ReasonError
	}
}

// readExitStatus reads what PID 1 wrote; an empty file means nothing yet.
func readExitStatus(path string) (pid1.ExitStatus, bool) {
	var es pid1.ExitStatus
	data, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return es, false
	}
	if err := json.Unmarshal(data, &es); err != nil {
		return es, false
	}
	return es, true
}

// oomKills reads the oom_kill count of a container's memory cgroup:
// memory.oom_control on cgroup v1, memory.events on v2 (key ""; a v1
// hybrid host has that key too, for the controller-less unified tree).
func oomKills(paths map[string]string) (uint64, error) {
	var file string
	if p, ok := paths["memory"]; ok {
		file = filepath.Join(p, "memory.oom_control")
	} else if p, ok := paths[""]; ok {
		file = filepath.Join(p, "memory.events")
	} else {
		return 0, errors.New("no memory cgroup")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read oom kills: %w", err)
	}
	return keyedValue(data, "oom_kill")
}

// keyedValue returns the value of key in a flat keyed cgroup file.
func keyedValue(data []byte, key string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in cgroup file", key)
}

// recordExit persists a container's exit in final.json, unless the
// directory now holds another attempt or the exit is recorded already.
func (r *Runtime) recordExit(uid types.UID, name string, meta containerRecord) error {
	dir := r.layout.container(uid, name)
	var cur containerRecord
	if err := readJSON(filepath.Join(dir, metaFile), &cur); err != nil || cur.ID != meta.ID || cur.PIDStart != meta.PIDStart {
		return nil
	}
	final := filepath.Join(dir, finalFile)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	return writeJSON(final, observeExit(dir, meta, time.Now()))
}

// ListPods returns every pod in the state directory with its containers.
// It only reads, so `kubelet-lite ps` can call it while the agent runs.
func (r *Runtime) ListPods() ([]PodState, error) {
	entries, err := os.ReadDir(r.layout.pods())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var pods []PodState
	for _, e := range entries {
		uid := types.UID(e.Name())
		var pod podRecord
		if validUID(uid) != nil || readJSON(filepath.Join(r.layout.pod(uid), podFile), &pod) != nil {
			continue
		}
		ps := PodState{UID: uid, Namespace: pod.Namespace, Name: pod.Name}
		if alive(pod.PID, pod.PIDStart) {
			ps.SandboxPID = pod.PID
		}
		names, err := r.containerNames(uid)
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		for _, name := range names {
			s, err := r.status(uid, name)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			ps.Containers = append(ps.Containers, s)
		}
		pods = append(pods, ps)
	}
	return pods, nil
}
