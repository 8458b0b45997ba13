package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// containerLogs serves GET /containerLogs/{namespace}/{pod}/{container}.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, ctr := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		http.Error(w, fmt.Sprintf("invalid log options: %v", err), http.StatusBadRequest)
		return
	}
	path, err := s.cfg.Logs.LogPath(ns, pod, ctr, opts.Previous)
	if err != nil {
		writeLogError(w, r, err)
		return
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.Join(ErrNotFound, err)
		}
		writeLogError(w, r, fmt.Errorf("log of container %q in pod %s/%s: %w", ctr, ns, pod, err))
		return
	}
	lr := &logRead{
		path: path,
		opts: newReadOptions(opts, time.Now()),
		w:    w,
	}
	if !opts.Previous {
		lr.running = func() bool { return s.cfg.Logs.Running(ns, pod, ctr, path) }
	}
	if f, ok := w.(http.Flusher); ok {
		lr.flush = f.Flush
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := lr.run(r.Context()); err != nil {
		// The status is sent; the stream just ends.
		klog.FromContext(r.Context()).Error(err, "Failed to stream container log", "pod", klog.KRef(ns, pod), "container", ctr)
	}
}

func writeLogError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	klog.FromContext(r.Context()).Error(err, "Failed to find container log", "path", r.URL.Path)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// pods serves GET /pods: the agent's pods as a v1 PodList in JSON, as the
// kubelet serves its pod manager's.
func (s *Server) pods(w http.ResponseWriter, r *http.Request) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
	for _, p := range s.cfg.Pods() {
		list.Items = append(list.Items, *p)
	}
	if list.Items == nil {
		list.Items = []corev1.Pod{}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&list); err != nil {
		klog.FromContext(r.Context()).V(4).Info("Cannot write the pod list", "err", err)
	}
}
