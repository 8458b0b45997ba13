package proxy

import (
	"context"
	"time"
)

// runner calls fn when triggered, at most once per min (a burst of triggers becomes one call,
// the first one after a quiet period runs at once), and at least once per max with full=true. A
// failed call is retried with a backoff from min (at least 100 ms) up to max.
type runner struct {
	fn       func(full bool) error
	min, max time.Duration
	kick     chan struct{}
}

func newRunner(fn func(full bool) error, min, max time.Duration) *runner {
	return &runner{fn: fn, min: min, max: max, kick: make(chan struct{}, 1)}
}

// Trigger asks for a call soon. It never blocks.
func (r *runner) Trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run calls fn once at once (full), then as triggered, until ctx ends.
func (r *runner) Run(ctx context.Context) {
	periodic := time.NewTimer(r.max)
	defer periodic.Stop()
	var last time.Time
	pending, full := true, true
	backoff := time.Duration(0)
	for {
		if pending {
			wait := r.min - time.Since(last)
			if backoff > wait {
				wait = backoff
			}
			if wait > 0 && !sleep(ctx, wait) {
				return
			}
			select { // triggers that came while waiting are covered by this call
			case <-r.kick:
			default:
			}
			last = time.Now()
			if err := r.fn(full); err != nil {
				backoff = r.nextBackoff(backoff)
				continue
			}
			backoff = 0
			if full {
				periodic.Reset(r.max)
			}
			pending, full = false, false
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			pending = true
		case <-periodic.C:
			pending, full = true, true
		}
	}
}

func (r *runner) nextBackoff(b time.Duration) time.Duration {
	if b == 0 {
		b = max(r.min, 100*time.Millisecond)
	} else {
		b *= 2
	}
	return min(b, r.max)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
