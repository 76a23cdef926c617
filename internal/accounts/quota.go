package accounts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// writerKey marks a context as one writer's (see WithWriter).
type writerKey struct{}

// writerID identifies one writer; it has a size so that every new one has
// an address of its own.
type writerID struct {
	label string // see WithUpload; "" for none
}

// WithWriter returns a context that makes the Reserve and Commit calls made
// with it, or with any context derived from it (context.WithoutCancel
// keeps it), one writer's: an upload. Reserve then knows which of the
// reservations in flight are the caller's own, so it can wait for the room
// other writers hold instead of refusing, and never waits for itself.
// Without it Reserve cannot tell and refuses at once whenever the room left
// is held by reservations. A context already marked is returned as it is,
// so an engine can mark an upload before handing it to a copier that marks
// its own (xfer.Receive), and give it an Allowance under that mark.
func WithWriter(ctx context.Context) context.Context {
	if writerFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, writerKey{}, &writerID{})
}

// WithUpload is WithWriter for an upload into the temporary file label (its
// path in the home): a Quota that tracks uploads beyond the process
// (UploadTracker) keeps, under that label, how much of the file is usage,
// so that a node that dies mid-upload leaves enough behind for another to
// count the file by what it holds. A context already marked is returned as
// it is.
func WithUpload(ctx context.Context, label string) context.Context {
	if writerFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, writerKey{}, &writerID{label: label})
}

func writerFrom(ctx context.Context) *writerID {
	w, _ := ctx.Value(writerKey{}).(*writerID)
	return w
}

// account is one user's quota account inside a process: every session of the
// user draws from the same one, so the limit holds across sessions.
//
// Committed usage (used*) and outstanding reservations (reserved) are kept
// apart: reservations count against the limit at once, so concurrent writers
// never together pass it, but they are not usage: Usage reports committed
// bytes only, and only committed bytes are persisted. A Reserve that finds
// the room held by other writers' reservations waits for them to be
// committed rather than failing: a writer (see WithWriter) is refused
// (ErrQuotaExceeded) only when committed usage leaves no room, or when the
// rest is held by its own reservations. The in-memory figure is the one limits are checked
// against, exactly and at once; the store follows it by deltas (never
// read-modify-write). When sink is set, each applied delta is added to the
// unsaved sums and sink is told; a usageWriter later takes the sums and
// writes them as one delta (see usageWriter for the bounded crash window).
type account struct {
	sink func(a *account) // nil: memory only; called without mu held

	mu         sync.Mutex
	limitBytes int64 // guarded by mu; 0 unlimited
	limitFiles int64 // guarded by mu; 0 unlimited
	usedBytes  int64 // guarded by mu; committed
	usedFiles  int64 // guarded by mu
	reserved   int64 // guarded by mu; granted and not yet committed
	inflight   int   // guarded by mu; reservations not yet committed
	waiting    int   // guarded by mu; Reserve calls waiting for room
	// changed is closed (and cleared) whenever room may have come back:
	// a commit, a delete, new limits, a rescan. Reserve waits on it.
	changed chan struct{} // guarded by mu; nil while nobody waits
	// held is how much of reserved each marked writer holds.
	held map[*writerID]int64 // guarded by mu
	// allow is how far each marked writer may pass the byte limit (see
	// Allowance).
	allow   map[*writerID]int64 // guarded by mu
	pending int                 // guarded by mu; deltas applied here, not yet persisted
	gen     uint64              // guarded by mu; bumped by every delta applied here

	// unsaved* sum the deltas not yet taken by the usage writer; unsavedN
	// counts them (pending also counts those taken but still being
	// written).
	unsavedBytes, unsavedFiles int64 // guarded by mu
	unsavedN                   int   // guarded by mu
	// absolute says the unsaved sums are whole figures (after Recount),
	// to be stored with SetUsage, not added.
	absolute bool // guarded by mu
	queued   bool // guarded by mu; sink told, not yet taken
}

var errNegativeReserve = errors.New("quota: negative reservation")

func (a *account) setLimits(bytes, files int64) {
	a.mu.Lock()
	a.limitBytes, a.limitFiles = bytes, files
	a.wake()
	a.mu.Unlock()
}

// wake tells waiting Reserve calls to look again; mu must be held.
func (a *account) wake() {
	if a.changed != nil {
		close(a.changed)
		a.changed = nil
	}
}

func (a *account) Reserve(ctx context.Context, want int64) (int64, error) {
	if want < 0 {
		return 0, errNegativeReserve
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w := writerFrom(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		// Asking for nothing is never refused (an empty upload on a full
		// account costs no bytes; the file quota is Adjust's business).
		if a.limitBytes <= 0 || want == 0 {
			return a.grant(w, want), nil
		}
		free := a.limitBytes - a.usedBytes
		if w != nil {
			free = satAdd(free, a.allow[w])
		}
		if free <= 0 {
			return 0, ErrQuotaExceeded
		}
		if room := free - a.reserved; room > 0 {
			return a.grant(w, min(want, room)), nil
		}
		// The room left is held by reservations in flight. Only other
		// writers' can come back to this one.
		if w == nil || a.reserved-a.held[w] <= 0 {
			return 0, ErrQuotaExceeded
		}
		if a.changed == nil {
			a.changed = make(chan struct{})
		}
		ch := a.changed
		a.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		a.mu.Lock()
		if err != nil {
			return 0, err
		}
	}
}

// grant records a reservation of n bytes by w (nil: unmarked); mu must be
// held.
func (a *account) grant(w *writerID, n int64) int64 {
	a.reserved = satAdd(a.reserved, n)
	a.inflight++
	if w != nil && n > 0 {
		if a.held == nil {
			a.held = make(map[*writerID]int64)
		}
		a.held[w] = satAdd(a.held[w], n)
	}
	return n
}

func (a *account) Commit(ctx context.Context, reserved, written int64) error {
	if reserved < 0 || written < 0 {
		return fmt.Errorf("quota: commit of negative amounts (%d reserved, %d written)", reserved, written)
	}
	a.mu.Lock()
	a.reserved -= min(reserved, a.reserved)
	if w := writerFrom(ctx); w != nil {
		if h := a.held[w] - min(reserved, a.held[w]); h > 0 {
			a.held[w] = h
		} else {
			delete(a.held, w)
		}
	}
	if a.inflight > 0 {
		a.inflight--
	}
	a.wake()
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
	return a.change(ctx, bytes, files, true)
}

func (a *account) Allowance(ctx context.Context, bytes int64) error {
	w := writerFrom(ctx)
	if w == nil {
		return errors.New("quota: allowance without a writer (accounts.WithWriter)")
	}
	if bytes < 0 {
		return errNegativeReserve
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if bytes == 0 {
		delete(a.allow, w)
		a.wake()
		return nil
	}
	if a.allow == nil {
		a.allow = make(map[*writerID]int64)
	}
	a.allow[w] = bytes
	a.wake()
	return nil
}

func (a *account) Record(ctx context.Context, bytes, files int64) error {
	return a.change(ctx, bytes, files, false)
}

// change is Adjust (check: a new file past the file quota is refused,
// changing nothing) and Record (never refused).
func (a *account) change(ctx context.Context, bytes, files int64, check bool) error {
	a.mu.Lock()
	if check && files > 0 && a.limitFiles > 0 && a.usedFiles+files > a.limitFiles {
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
	a.wake()
	return a.applied(ctx, bytes, files)
}

func (a *account) Recount(ctx context.Context, bytes, files int64) error {
	if bytes < 0 || files < 0 {
		return fmt.Errorf("quota: recount of negative figures (%d bytes, %d files)", bytes, files)
	}
	a.mu.Lock()
	a.usedBytes, a.usedFiles = bytes, files
	a.wake()
	a.gen++
	if a.sink == nil {
		a.mu.Unlock()
		return nil
	}
	// The figures replace whatever is unsaved: the next write stores them
	// whole (SetUsage), and deltas applied after this add to them.
	a.pending++
	a.unsavedBytes, a.unsavedFiles = bytes, files
	a.unsavedN++
	a.absolute = true
	tell := !a.queued
	a.queued = true
	a.mu.Unlock()
	if tell {
		a.sink(a)
	}
	return nil
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
// absolute reports that bytes and files are whole figures (see Recount).
func (a *account) takeUnsaved() (bytes, files int64, n int, absolute bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bytes, files, n, absolute = a.unsavedBytes, a.unsavedFiles, a.unsavedN, a.absolute
	a.unsavedBytes, a.unsavedFiles, a.unsavedN, a.absolute = 0, 0, 0, false
	a.queued = false
	return bytes, files, n, absolute
}

// saved records that n deltas taken by takeUnsaved reached the store.
func (a *account) saved(n int) {
	a.mu.Lock()
	a.pending -= n
	a.mu.Unlock()
}

// putBack returns deltas whose write failed, to be retried; it reports
// whether the account must be queued again.
func (a *account) putBack(bytes, files int64, n int, absolute bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.absolute:
		// A Recount since supersedes what failed; only its count of
		// deltas is still to be saved.
	case absolute:
		// Deltas applied since add to the whole figures that failed.
		a.unsavedBytes = satAdd(bytes, a.unsavedBytes)
		a.unsavedFiles = satAdd(files, a.unsavedFiles)
		a.absolute = true
	default:
		a.unsavedBytes = satAdd(a.unsavedBytes, bytes)
		a.unsavedFiles = satAdd(a.unsavedFiles, files)
	}
	a.unsavedN += n
	tell := !a.queued
	a.queued = true
	return tell
}

func (a *account) Usage(ctx context.Context) (Usage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Reservations are room held for uploads in flight, not usage: what
	// SITE QUOTA, AVBL and STAT show is what is stored.
	return Usage{
		UsedBytes: a.usedBytes, QuotaBytes: a.limitBytes,
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
	a.wake()
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
