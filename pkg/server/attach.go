package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// errAttachStdin refuses an attach with stdin: containers run without
// stdio pipes (their PID 1 writes the CRI log itself), so there is no
// stdin to attach to.
var errAttachStdin = errors.New("attach with stdin is not supported: containers run without a stdin stream")

// attach serves /attach: the output of a running container from now on,
// its stdout and stderr lines on the client's stdout and stderr, until the
// container stops or the client goes. It follows the container's CRI log,
// which is where the output goes.
func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if opts.Stdin {
		http.Error(w, errAttachStdin.Error(), http.StatusBadRequest)
		return
	}
	ns, pod, ctr := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	if r.PathValue("uid") != "" {
		if _, ok := s.podUID(w, r); !ok {
			return
		}
	}
	path, err := s.cfg.Logs.LogPath(ns, pod, ctr, false)
	if err != nil {
		writeLogError(w, r, err)
		return
	}
	running := func() bool { return s.cfg.Logs.Running(ns, pod, ctr, path) }
	if !running() {
		http.Error(w, fmt.Sprintf("container %q in pod %s/%s is not running", ctr, ns, pod), http.StatusBadRequest)
		return
	}
	w, r, done := watchClient(w, r)
	defer done()
	remotecommand.ServeAttach(w, r, attacher{path: path, running: running}, pod, "", ctr, opts,
		streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// attacher follows one container's log for remotecommand's attach.
type attacher struct {
	path    string
	running func() bool
}

func (a attacher) AttachContainer(ctx context.Context, _, _, _ string, _ io.Reader, out, errw io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize) error {
	lr := &logRead{
		path:    a.path,
		opts:    readOptions{follow: true, tail: 0, limit: -1},
		running: a.running,
		w:       io.Discard,
	}
	if out != nil {
		lr.w = out
	}
	if errw != nil {
		lr.stderr = errw
	}
	return lr.run(ctx)
}
