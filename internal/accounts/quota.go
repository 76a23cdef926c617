package accounts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// account is one user's quota account inside a process: every session of the
// user draws from the same one, so the limit holds across sessions.
//
// Committed usage (used*) and outstanding reservations (reserved) are kept
// apart: reservations count against the limit at once, but only committed
// bytes are persisted. persist, when set, writes each delta to the store after
// it is applied here; the in-memory figure is the one limits are checked
// against, and the store follows it by deltas (never read-modify-write).
type account struct {
	persist func(ctx context.Context, bytes, files int64) error // nil: memory only

	mu         sync.Mutex
	limitBytes int64  // guarded by mu; 0 unlimited
	limitFiles int64  // guarded by mu; 0 unlimited
	usedBytes  int64  // guarded by mu; committed
	usedFiles  int64  // guarded by mu
	reserved   int64  // guarded by mu; granted and not yet committed
	inflight   int    // guarded by mu; reservations not yet committed
	pending    int    // guarded by mu; deltas applied here, not yet persisted
	gen        uint64 // guarded by mu; bumped by every delta applied here
}

var errNegativeReserve = errors.New("quota: negative reservation")

func (a *account) setLimits(bytes, files int64) {
	a.mu.Lock()
	a.limitBytes, a.limitFiles = bytes, files
	a.mu.Unlock()
}

func (a *account) Reserve(ctx context.Context, want int64) (int64, error) {
	if want < 0 {
		return 0, errNegativeReserve
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	granted := want
	// Asking for nothing is never refused (an empty upload on a full
	// account costs no bytes; the file quota is Adjust's business).
	if a.limitBytes > 0 && want > 0 {
		room := a.limitBytes - a.usedBytes - a.reserved
		if room <= 0 {
			return 0, ErrQuotaExceeded
		}
		granted = min(want, room)
	}
	a.reserved = satAdd(a.reserved, granted)
	a.inflight++
	return granted, nil
}

func (a *account) Commit(ctx context.Context, reserved, written int64) error {
	if reserved < 0 || written < 0 {
		return fmt.Errorf("quota: commit of negative amounts (%d reserved, %d written)", reserved, written)
	}
	a.mu.Lock()
	a.reserved -= min(reserved, a.reserved)
	if a.inflight > 0 {
		a.inflight--
	}
	// Bytes written past the reservation are on disk all the same, so they
	// count: usage must stay true even when a caller overran.
	if written == 0 {
		a.mu.Unlock()
		return nil
	}
	a.usedBytes = satAdd(a.usedBytes, written)
	return a.applied(ctx, written, 0)
}

func (a *account) Adjust(ctx context.Context, bytes, files int64) error {
	a.mu.Lock()
	if files > 0 && a.limitFiles > 0 && a.usedFiles+files > a.limitFiles {
		a.mu.Unlock()
		return ErrQuotaExceeded
	}
	if bytes == 0 && files == 0 {
		a.mu.Unlock()
		return nil
	}
	// Usage never goes below zero: deleting files that predate tracking
	// must not hand out free room. The store clamps the same way.
	a.usedBytes = max(0, satAdd(a.usedBytes, bytes))
	a.usedFiles = max(0, satAdd(a.usedFiles, files))
	return a.applied(ctx, bytes, files)
}

// applied is called with mu held after a delta changed the usage; it unlocks
// mu and persists the delta.
func (a *account) applied(ctx context.Context, bytes, files int64) error {
	a.gen++
	if a.persist == nil {
		a.mu.Unlock()
		return nil
	}
	a.pending++
	a.mu.Unlock()
	// The delta must reach the store even when the session's command was
	// aborted: the bytes are on disk.
	err := a.persist(context.WithoutCancel(ctx), bytes, files)
	a.mu.Lock()
	a.pending--
	a.mu.Unlock()
	return err
}

func (a *account) Usage(ctx context.Context) (Usage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Usage{
		UsedBytes: satAdd(a.usedBytes, a.reserved), QuotaBytes: a.limitBytes,
		UsedFiles: a.usedFiles, QuotaFiles: a.limitFiles,
	}, nil
}

// committed returns the committed usage, without reservations.
func (a *account) committed() (bytes, files int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.usedBytes, a.usedFiles
}

// quiet reports whether the account has no reservation in flight and no
// delta on its way to the store, and the generation to pass to load: only
// then does the store hold exactly the usage this process believes.
func (a *account) quiet() (gen uint64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen, a.inflight == 0 && a.pending == 0
}

// load replaces committed usage with figures read from the store (after a
// rescan elsewhere), unless anything changed since quiet returned gen: a
// delta applied meanwhile would make the read figures stale. It reports
// whether it replaced them.
func (a *account) load(gen uint64, bytes, files int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen || a.inflight != 0 || a.pending != 0 {
		return false
	}
	a.usedBytes, a.usedFiles = bytes, files
	return true
}

func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}
