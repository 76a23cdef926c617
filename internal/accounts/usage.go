package accounts

import (
	"context"
	"errors"
	"sync"
	"time"
)

// usageFlushInterval is how long usage deltas may wait in memory before the
// usage writer stores them. It is the crash window of usage: a process
// killed without a clean shutdown (kill -9, power loss) loses at most the
// deltas of this interval plus the one write in flight, which `wharf user
// rescan` corrects. Waiting it out coalesces the deltas of many operations
// into one write per user: the harness's small-files workload makes two
// deltas per 4 KiB file, and a synchronous SQLite write for each cost more
// than the rest of the upload together (BENCHMARKS.md).
const usageFlushInterval = 100 * time.Millisecond

// usageWriter writes the usage deltas of a DB's accounts to the store in
// the background. Limits never depend on it: the in-memory account stays
// authoritative and exact, and an account with unsaved deltas is not
// "quiet", so figures read back from the store never replace it meanwhile
// (see DB). A clean close writes everything still unsaved.
type usageWriter struct {
	store    Store
	interval time.Duration

	mu     sync.Mutex
	dirty  map[*account]string // guarded by mu: accounts with unsaved deltas, by user name
	closed bool                // guarded by mu

	flushMu sync.Mutex    // one flush at a time, so deltas of a user are written in order
	wake    chan struct{} // capacity 1: something was queued
	quit    chan struct{}
	done    chan struct{}
}

func newUsageWriter(store Store, interval time.Duration) *usageWriter {
	w := &usageWriter{
		store:    store,
		interval: interval,
		dirty:    make(map[*account]string),
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go w.run()
	return w
}

// queue notes that a (user name) has unsaved deltas.
func (w *usageWriter) queue(name string, a *account) {
	w.mu.Lock()
	w.dirty[a] = name
	closed := w.closed
	w.mu.Unlock()
	if closed {
		// No background writer any more: write now rather than lose it.
		w.flush(context.Background())
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *usageWriter) run() {
	defer close(w.done)
	t := time.NewTimer(w.interval)
	t.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-w.wake:
		}
		// Let the deltas of the next interval join this write.
		t.Reset(w.interval)
		select {
		case <-w.quit:
			t.Stop()
			return
		case <-t.C:
		}
		if err := w.flush(context.Background()); err != nil {
			// Retry after another interval; the deltas were put back.
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// flush writes every unsaved delta now, one AddUsage per user. Deltas
// whose write fails are put back for the next flush.
func (w *usageWriter) flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	batch := w.dirty
	if len(batch) == 0 {
		w.mu.Unlock()
		return nil
	}
	w.dirty = make(map[*account]string, len(batch))
	w.mu.Unlock()
	var errs []error
	for a, name := range batch {
		bytes, files, n, absolute := a.takeUnsaved()
		if n == 0 {
			continue
		}
		var err error
		switch {
		case absolute:
			err = w.store.SetUsage(ctx, name, max(0, bytes), max(0, files))
		case bytes != 0 || files != 0:
			err = w.store.AddUsage(ctx, name, bytes, files)
		}
		if err == nil || errors.Is(err, ErrNotFound) {
			// A deleted user's usage has nowhere to go.
			a.saved(n)
			continue
		}
		errs = append(errs, err)
		if a.putBack(bytes, files, n, absolute) {
			w.mu.Lock()
			w.dirty[a] = name
			w.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// close stops the background writer and writes what is left.
func (w *usageWriter) close() error {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if !already {
		close(w.quit)
		<-w.done
	}
	return w.flush(context.Background())
}
