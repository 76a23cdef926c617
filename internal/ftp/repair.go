package ftp

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/xfer"
)

// Repair of usage after a bookkeeping error.
//
// A change on disk whose usage could not be recorded (ErrNotRecorded: the
// user store refused or did not answer, as PostgreSQL during an outage
// longer than its retries) leaves usage wrong by an amount nobody can
// know: the failed call may or may not have reached the store. Retrying
// the delta could count it twice; the one exact answer is a count of the
// home. RepairUsage schedules one: it runs at the first moment no change
// under the commit rule is in flight in that home (every such change
// holds a name of the ledger from its first look to its last record), so
// the count is what the usage must be, and it replaces the usage
// (Quota.Recount) while new changes of that home wait. A store still down is
// asked again until it answers, for at most repairFor.

// repairFor bounds how long a repair waits for a quiet home and a store
// that answers; past it the usage stays wrong until the next recount
// (`wharf user rescan`, or the first login after a restart).
const repairFor = 30 * time.Minute

// repairRetry is how often a repair looks again.
const repairRetry = 250 * time.Millisecond

var repairs = struct {
	mu      sync.Mutex
	pending map[string]bool // by ledger key prefix of a home; guarded by mu
}{pending: make(map[string]bool)}

// notCounted reports whether err says a change is on disk but not in usage.
func notCounted(err error) bool {
	return errors.Is(err, ErrNotRecorded) || errors.Is(err, xfer.ErrNotCounted)
}

// RepairUsage logs a bookkeeping error once (what and err) and makes q's
// usage right again by a count of the home fsys is rooted at (see above).
// Calls for a home whose repair is pending add nothing but the log line.
func RepairUsage(fsys vfs.Storage, q accounts.Quota, log *slog.Logger, what string, err error) {
	log.Error(what+": usage not recorded; the home will be counted again", "err", err)
	if q == nil {
		return
	}
	prefix := homePrefix(fsys)
	repairs.mu.Lock()
	if repairs.pending[prefix] {
		repairs.mu.Unlock()
		return
	}
	repairs.pending[prefix] = true
	repairs.mu.Unlock()
	go repair(fsys, q, log, prefix)
}

func repair(fsys vfs.Storage, q accounts.Quota, log *slog.Logger, prefix string) {
	defer func() {
		repairs.mu.Lock()
		delete(repairs.pending, prefix)
		repairs.mu.Unlock()
	}()
	defer ledger.unwatch(prefix)
	ctx := context.Background()
	var last error
	for deadline := time.Now().Add(repairFor); time.Now().Before(deadline); time.Sleep(repairRetry) {
		gen, quiet := ledger.quiet(prefix)
		if !quiet {
			continue
		}
		bytes, files, err := countHome(ctx, fsys, ".")
		if err != nil {
			last = err
			continue
		}
		err = ledger.ifQuiet(prefix, gen, func() error { return q.Recount(ctx, bytes, files) })
		if errors.Is(err, errNotQuiet) {
			continue
		}
		if err != nil {
			last = err
			continue
		}
		log.Info("usage recounted after a bookkeeping error", "bytes", bytes, "files", files)
		return
	}
	log.Error("usage not repaired: count the home with `wharf user rescan`", "err", last)
}

// homePrefix is what the ledger keys of every name of fsys start with.
func homePrefix(fsys vfs.Storage) string {
	k := nameKey(fsys, "x")
	return strings.TrimSuffix(k, "x")
}

var errNotQuiet = errors.New("a change is in flight")

// repairState is the ledger's part of the repairs, guarded by ledger.mu.
type repairState struct {
	// watch counts, per home being repaired, the names taken there, so a
	// count can tell whether anything changed while it walked.
	watch map[string]uint64
	// frozen holds off every new change of a home while its count
	// replaces the usage; the channel is closed when it is done.
	frozen map[string]chan struct{}
}

// admit waits while key's home is frozen and counts key for the homes
// being watched; l.mu must be held (it is released while waiting).
func (l *ledgerT) admit(key string) {
	for {
		var ch chan struct{}
		for p, c := range l.rep.frozen {
			if strings.HasPrefix(key, p) {
				ch = c
			}
		}
		if ch == nil {
			break
		}
		l.mu.Unlock()
		<-ch
		l.mu.Lock()
	}
	for p := range l.rep.watch {
		if strings.HasPrefix(key, p) {
			l.rep.watch[p]++
		}
	}
}

// quiet reports whether no name under prefix is held, and the generation
// to pass to ifQuiet; it starts watching prefix.
func (l *ledgerT) quiet(prefix string) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rep.watch == nil {
		l.rep.watch = make(map[string]uint64)
	}
	gen, ok := l.rep.watch[prefix]
	if !ok {
		l.rep.watch[prefix] = 0
	}
	return gen, !l.holds(prefix)
}

// unwatch ends what quiet started.
func (l *ledgerT) unwatch(prefix string) {
	l.mu.Lock()
	delete(l.rep.watch, prefix)
	l.mu.Unlock()
}

// ifQuiet runs fn with the home frozen, if no name under prefix was taken
// since quiet returned gen and none is held; errNotQuiet otherwise.
func (l *ledgerT) ifQuiet(prefix string, gen uint64, fn func() error) error {
	l.mu.Lock()
	if l.rep.watch[prefix] != gen || l.holds(prefix) {
		l.mu.Unlock()
		return errNotQuiet
	}
	if l.rep.frozen == nil {
		l.rep.frozen = make(map[string]chan struct{})
	}
	ch := make(chan struct{})
	l.rep.frozen[prefix] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.rep.frozen, prefix)
		close(ch)
		l.mu.Unlock()
	}()
	return fn()
}

// holds reports whether a name under prefix is held; l.mu must be held.
func (l *ledgerT) holds(prefix string) bool {
	for k := range l.names {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
