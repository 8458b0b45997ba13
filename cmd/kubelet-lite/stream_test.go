package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// clientStream is a port-forward stream: Reader is what the client sends,
// Writer what it gets.
type clientStream struct {
	io.Reader // the client's data
	io.Writer // to the client
}

func (clientStream) Close() error { return nil }

// podServer accepts one connection on loopback and hands it to serve.
func podServer(t *testing.T, serve func(net.Conn)) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err == nil {
			serve(c)
		}
	}()
	conn, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestSplice(t *testing.T) {
	t.Run("client's end half-closes, pod answers and closes", func(t *testing.T) {
		conn := podServer(t, func(c net.Conn) {
			defer c.Close()
			b, _ := io.ReadAll(c) // until the client's end
			c.Write(append([]byte("got "), b...))
		})
		sendR, sendW := io.Pipe()
		gotR, gotW := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- splice(context.Background(), conn, clientStream{sendR, gotW})
			gotW.Close()
		}()
		io.WriteString(sendW, "ping")
		sendW.Close()
		got, _ := io.ReadAll(gotR)
		if string(got) != "got ping" {
			t.Errorf("client got %q, want %q", got, "got ping")
		}
		if err := <-done; err != nil {
			t.Errorf("splice = %v, want nil", err)
		}
	})
	t.Run("context ends a connection the pod keeps open", func(t *testing.T) {
		held := make(chan struct{})
		conn := podServer(t, func(c net.Conn) {
			<-held
			c.Close()
		})
		defer close(held)
		sendR, _ := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- splice(ctx, conn, clientStream{sendR, io.Discard}) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("splice = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("splice still running after its context ended")
		}
	})
}
