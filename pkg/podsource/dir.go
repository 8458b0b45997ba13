package podsource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// settle is how long the directory must be quiet before it is read again, so
// an editor's write-rename dance is seen as one change.
const settle = 100 * time.Millisecond

// Dir is a directory of static pod manifests. Files whose names start with a
// dot are ignored, as upstream does.
type Dir struct {
	Path     string
	NodeName string
	// Resync is how often the directory is read even without an event.
	Resync time.Duration
}

// Run sends the whole set of pods the directory describes to update: once at
// start, then whenever it changes. A file that does not parse is logged and
// left out; the others still run. Run returns when ctx ends.
func (d *Dir) Run(ctx context.Context, update func([]*corev1.Pod)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", d.Path, err)
	}
	defer w.Close()
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return fmt.Errorf("pod manifest dir: %w", err)
	}
	if err := w.Add(d.Path); err != nil {
		return fmt.Errorf("watch %s: %w", d.Path, err)
	}
	resync := time.NewTicker(d.Resync)
	defer resync.Stop()
	quiet := time.NewTimer(0) // read at once
	var last []string
	first := true
	bad := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			klog.V(4).InfoS("Manifest dir event", "event", ev.String())
			quiet.Reset(settle)
			continue
		case err := <-w.Errors:
			klog.ErrorS(err, "Watching the pod manifest dir failed; the periodic resync continues", "path", d.Path)
			continue
		case <-resync.C:
		case <-quiet.C:
		}
		pods := d.read(bad)
		keys := podKeys(pods)
		if !first && slices.Equal(keys, last) {
			continue
		}
		first, last = false, keys
		klog.V(2).InfoS("Static pods changed", "path", d.Path, "pods", len(pods))
		update(pods)
	}
}

// read parses every manifest in the directory. bad remembers the error of each
// broken file so that it is logged once, not on every resync.
func (d *Dir) read(bad map[string]string) []*corev1.Pod {
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		klog.ErrorS(err, "Reading the pod manifest dir failed", "path", d.Path)
		return nil
	}
	var pods []*corev1.Pod
	seen := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		file := filepath.Join(d.Path, name)
		pod, err := ReadManifest(file, d.NodeName)
		if err != nil {
			if bad[file] != err.Error() {
				klog.ErrorS(err, "Ignoring static pod manifest", "file", file)
				bad[file] = err.Error()
			}
			continue
		}
		delete(bad, file)
		key := pod.Namespace + "/" + pod.Name
		if other, dup := seen[key]; dup {
			klog.ErrorS(nil, "Ignoring static pod manifest: another file names the same pod", "file", file, "pod", key, "other", other)
			continue
		}
		seen[key] = file
		pods = append(pods, pod)
	}
	return pods
}

func podKeys(pods []*corev1.Pod) []string {
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = string(p.UID)
	}
	slices.Sort(keys)
	return keys
}
