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
// bytes are persisted. The in-memory figure is the one limits are checked
// against, exactly and at once; the store follows it by deltas (never
// read-modify-write). When sink is set, each applied delta is added to the
// unsaved sums and sink is told; a usageWriter later takes the sums and
// writes them as one delta (see usageWriter for the bounded crash window).
type account struct {
	sink func(a *account) // nil: memory only; called without mu held

	mu         sync.Mutex
	limitBytes int64  // guarded by mu; 0 unlimited
	limitFiles int64  // guarded by mu; 0 unlimited
	usedBytes  int64  // guarded by mu; committed
	usedFiles  int64  // guarded by mu
	reserved   int64  // guarded by mu; granted and not yet committed
	inflight   int    // guarded by mu; reservations not yet committed
	pending    int    // guarded by mu; deltas applied here, not yet persisted
	gen        uint64 // guarded by mu; bumped by every delta applied here

	// unsaved* sum the deltas not yet taken by the usage writer; unsavedN
	// counts them (pending also counts those taken but still being
	// written).
	unsavedBytes, unsavedFiles int64 // guarded by mu
	unsavedN                   int   // guarded by mu
	queued                     bool  // guarded by mu; sink told, not yet taken
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
// mu and hands the delta to the usage writer. It never waits for the store:
// the bytes are on disk and the in-memory figure is already exact, so an
// upload or delete must not pay a database write (the writer coalesces the
// deltas of many operations into one). It returns nil; the error result is
// kept for the Quota contract.
func (a *account) applied(ctx context.Context, bytes, files int64) error {
	a.gen++
	if a.sink == nil {
		a.mu.Unlock()
		return nil
	}
	a.pending++
	a.unsavedBytes = satAdd(a.unsavedBytes, bytes)
	a.unsavedFiles = satAdd(a.unsavedFiles, files)
	a.unsavedN++
	tell := !a.queued
	a.queued = true
	a.mu.Unlock()
	if tell {
		a.sink(a)
	}
	return nil
}

// takeUnsaved returns the deltas not yet written and how many they are,
// leaving them counted in pending until saved or putBack.
func (a *account) takeUnsaved() (bytes, files int64, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bytes, files, n = a.unsavedBytes, a.unsavedFiles, a.unsavedN
	a.unsavedBytes, a.unsavedFiles, a.unsavedN = 0, 0, 0
	a.queued = false
	return bytes, files, n
}

// saved records that n deltas taken by takeUnsaved reached the store.
func (a *account) saved(n int) {
	a.mu.Lock()
	a.pending -= n
	a.mu.Unlock()
}

// putBack returns deltas whose write failed, to be retried; it reports
// whether the account must be queued again.
func (a *account) putBack(bytes, files int64, n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unsavedBytes = satAdd(a.unsavedBytes, bytes)
	a.unsavedFiles = satAdd(a.unsavedFiles, files)
	a.unsavedN += n
	tell := !a.queued
	a.queued = true
	return tell
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
