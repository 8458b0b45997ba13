package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/kubelet-lite/kubelet-lite/pkg/prober"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/server"
)

// streamer runs the kubelet API's exec and port-forward requests on the
// runtime's pods: exec through sandbox.Runtime.Exec, the path exec probes
// take too; port-forward through a dial inside the pod's network
// namespace, as the probes dial.
type streamer struct {
	rt      *sandbox.Runtime
	network func(types.UID) (prober.PodNetwork, error)
}

var _ server.Streamer = streamer{}

func newStreamer(rt *sandbox.Runtime) streamer {
	return streamer{rt: rt, network: podNetwork(rt)}
}

func (s streamer) PodUID(namespace, name string) (types.UID, error) {
	pods, err := s.rt.ListPods()
	if err != nil {
		return "", err
	}
	for _, p := range pods {
		if p.Namespace == namespace && p.Name == name {
			return p.UID, nil
		}
	}
	return "", fmt.Errorf("pod %s/%s: %w", namespace, name, server.ErrNotFound)
}

func (s streamer) Exec(ctx context.Context, uid types.UID, container string, cmd []string, st server.ExecStreams) (int, error) {
	opts := sandbox.ExecOptions{Cmd: cmd, Stdin: st.Stdin, Stdout: st.Stdout, Stderr: st.Stderr, TTY: st.TTY}
	if st.Resize != nil {
		// Not closed: Exec stops reading sizes when the process exits.
		sizes := make(chan sandbox.TerminalSize)
		stop := make(chan struct{})
		defer close(stop)
		go relaySizes(st.Resize, sizes, stop)
		opts.Resize = sizes
	}
	code, err := s.rt.Exec(ctx, uid, container, opts)
	if errors.Is(err, sandbox.ErrNotFound) {
		err = errors.Join(err, server.ErrNotFound)
	}
	return code, err
}

// relaySizes passes terminal sizes on until in closes or stop.
func relaySizes(in <-chan remotecommand.TerminalSize, out chan<- sandbox.TerminalSize, stop <-chan struct{}) {
	for {
		select {
		case sz, ok := <-in:
			if !ok {
				return
			}
			select {
			case out <- sandbox.TerminalSize{Width: sz.Width, Height: sz.Height}:
			case <-stop:
				return
			}
		case <-stop:
			return
		}
	}
}

func (s streamer) PortForward(ctx context.Context, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	pn, err := s.network(uid)
	if err != nil {
		return err
	}
	conn, err := pn.Dialer.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("dial port %d in pod %s: %w", port, uid, err)
	}
	return splice(ctx, conn, stream)
}

// splice copies between a pod's connection and a client's stream: the
// client's end of data half-closes the connection; the pod's end, a
// broken client stream or ctx ends it all.
func splice(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	go func() {
		_, err := io.Copy(conn, stream)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
			return
		}
		conn.Close() // the client is gone, so is the pod's side
	}()
	_, err := io.Copy(stream, conn)
	if errors.Is(err, net.ErrClosed) {
		return nil // closed here: the client went away
	}
	return err
}
