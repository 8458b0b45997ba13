package stats

import (
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// defaultUsageInterval is how old a directory's usage may get before it is
// walked again: cAdvisor's and the CRI runtimes' own figures are refreshed
// about as often.
const defaultUsageInterval = 10 * time.Second

// usageKey names one measure: the tree at path, or with filesOnly the files
// directly in it (a log directory).
type usageKey struct {
	path      string
	filesOnly bool
}

type usageEntry struct {
	usage diskUsage
	at    time.Time // when the walk that measured usage ended; zero before the first
	ok    bool      // usage is known: the last walk succeeded
	gen   uint64    // the last Summary that asked for it
}

// usageCache keeps the disk usage of directories for the Summary, so that a
// scrape never walks a tree. get returns what the last walk found; sweep,
// called once a Summary has asked for all it needs, forgets what that
// Summary did not ask for and, unless a walk is already running, starts one
// goroutine that walks every entry older than the interval, one after the
// other, and exits. So at most one walk runs at a time, whatever the scrape
// rate; a tree's usage is at most interval plus one walk of everything old;
// and a directory first asked for is reported from the scrape after its
// first walk ends.
type usageCache struct {
	interval time.Duration
	clock    clock.PassiveClock
	logger   logr.Logger

	mu      sync.Mutex
	entries map[usageKey]*usageEntry
	walking chan struct{} // closed when the running walk ends; nil when none runs
}

func newUsageCache(interval time.Duration, clk clock.PassiveClock) *usageCache {
	return &usageCache{interval: interval, clock: clk, entries: map[usageKey]*usageEntry{}}
}

// get returns the last known usage of k, and records that the Summary gen
// wants it.
func (u *usageCache) get(k usageKey, gen uint64) (diskUsage, time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.entries[k]
	if !ok {
		e = &usageEntry{}
		u.entries[k] = e
	}
	e.gen = gen
	return e.usage, e.at, e.ok
}

// sweep forgets the entries the Summary gen did not ask for and starts a
// walk of the stale ones, unless one runs.
func (u *usageCache) sweep(logger logr.Logger, gen uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.logger = logger
	for k, e := range u.entries {
		if e.gen != gen {
			delete(u.entries, k)
		}
	}
	if u.walking != nil || len(u.stale()) == 0 {
		return
	}
	done := make(chan struct{})
	u.walking = done
	go u.walk(done)
}

// stale lists the entries due for a walk. The caller holds mu.
func (u *usageCache) stale() []usageKey {
	now := u.clock.Now()
	var out []usageKey
	for k, e := range u.entries {
		if e.at.IsZero() || now.Sub(e.at) >= u.interval {
			out = append(out, k)
		}
	}
	return out
}

// walk measures each stale entry, outside the lock, and stores the result
// unless the entry was forgotten meanwhile.
func (u *usageCache) walk(done chan struct{}) {
	u.mu.Lock()
	keys, logger := u.stale(), u.logger
	u.mu.Unlock()
	for _, k := range keys {
		measure := dirUsage
		if k.filesOnly {
			measure = filesUsage
		}
		usage, err := measure(k.path)
		if err != nil {
			logger.V(4).Info("Cannot measure disk usage, leaving it out", "path", k.path, "err", err)
		}
		u.mu.Lock()
		if e, ok := u.entries[k]; ok {
			e.usage, e.ok, e.at = usage, err == nil, u.clock.Now()
		}
		u.mu.Unlock()
	}
	u.mu.Lock()
	u.walking = nil
	u.mu.Unlock()
	close(done)
}

// wait blocks until the running walk, if any, has ended.
func (u *usageCache) wait() {
	u.mu.Lock()
	done := u.walking
	u.mu.Unlock()
	if done != nil {
		<-done
	}
}
