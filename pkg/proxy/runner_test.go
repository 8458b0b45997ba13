package proxy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type calls struct {
	mu    sync.Mutex
	at    []time.Time
	full  []bool
	fails int
	ch    chan struct{}
}

func (c *calls) fn(full bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = append(c.at, time.Now())
	c.full = append(c.full, full)
	select {
	case c.ch <- struct{}{}:
	default:
	}
	if c.fails > 0 {
		c.fails--
		return errors.New("injected")
	}
	return nil
}

func (c *calls) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.at)
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("%d calls after 30s, want %d", got, n)
		}
	}
}

func TestRunnerCoalescesBurstsAndRespectsMin(t *testing.T) {
	c := &calls{ch: make(chan struct{}, 1)}
	min := 300 * time.Millisecond
	r := newRunner(c.fn, min, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	c.wait(t, 1) // the initial full sync
	for range 50 {
		r.Trigger()
	}
	c.wait(t, 2)
	time.Sleep(2 * min) // a burst of 50 triggers is at most 2 calls (one may already be queued)
	c.mu.Lock()
	n, at, full := len(c.at), append([]time.Time(nil), c.at...), append([]bool(nil), c.full...)
	c.mu.Unlock()
	if n > 3 {
		t.Errorf("%d calls for a burst of 50 triggers, want at most 3", n)
	}
	for i := 1; i < n; i++ {
		if gap := at[i].Sub(at[i-1]); gap < min {
			t.Errorf("calls %d and %d only %v apart, min is %v", i-1, i, gap, min)
		}
	}
	if !full[0] || full[1] {
		t.Errorf("full flags %v, want the first call full and the triggered one not", full)
	}
}

func TestRunnerPeriodicFullAndRetry(t *testing.T) {
	c := &calls{ch: make(chan struct{}, 1), fails: 1}
	r := newRunner(c.fn, 10*time.Millisecond, 500*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	c.wait(t, 3) // failed first call, its retry, one periodic call
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.full[0] || !c.full[1] || !c.full[2] {
		t.Errorf("full flags %v, want the failed call, its retry and the periodic call full", c.full)
	}
	if gap := c.at[2].Sub(c.at[1]); gap < 400*time.Millisecond {
		t.Errorf("periodic call %v after the last one, want about 500ms", gap)
	}
}
