package accounts

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Exact quotas across a cluster's nodes.
//
// On PostgreSQL a user's quota account is the users row itself, not an
// in-process figure: every Reserve, Commit, Adjust and Record is one call of
// a function of pgmigrations/0003_quota.sql that locks the row, decides and
// changes usage and reservations in the same statement. So uploads of one
// user on any number of nodes never together pass the byte or file quota,
// not even for a moment, and usage in the database is the sum of what was
// written, with no window of unsaved deltas (the SQLite path's
// usageFlushInterval). The price is one round trip per reservation (256
// KiB doubling to 8 MiB of an upload) and per settle.
//
// A reservation is held by a writer (an upload, see WithWriter) in a row
// with a lease that this node renews while the writer holds room. A node
// that dies stops renewing: after reservationLease any node's sweep gives
// the room back. The bytes a dead node had written but not settled are
// not in usage; they are in its temporary file, which the recovery of the
// engine settles and counts by what is really stored (Quota.Recount).

// reservationLease is how long a dead node's reservations keep their room.
// A live node renews its writers' rows every reservationLease/3, so a node
// paused longer than the lease (a stopped VM) may find its room swept:
// its bytes still count when it settles, and the quota can then be passed
// by what it wrote meanwhile (at most one reservation, 8 MiB, per upload).
const reservationLease = sessionLease

// reserveRetry is how often a writer waiting for room held by other
// writers (possibly on other nodes, whose settles this node is not told
// of) asks again.
const reserveRetry = 20 * time.Millisecond

// settleRetryFor bounds how long a reserve, a settle, or a usage change
// that is safe to send again, is retried while the database is unreachable
// (a restart), so uploads running through a short outage carry on.
// Reserves and settles are numbered, so a repeat is applied once; other
// changes are retried only when the driver knows they were not sent.
const settleRetryFor = 15 * time.Second

// clusterWriter is one writer's reservation row.
type clusterWriter struct {
	id    int64  // the row's id, random
	label string // WithUpload's; such a row lives until EndUpload
	held  int64  // bytes reserved, as the row says after the last settle
	seq   int64  // reserves and settles sent
	allow int64  // see Quota.Allowance
	// credited says allow came from Credit: the database holds it (and
	// may have revoked it since), so Reserve does not send it.
	credited bool
}

// clusterAccount is a user's quota account on a cluster's database. Its
// figures are the row's as last read, for display and for deciding whether
// a refused writer should wait; every decision is the database's.
type clusterAccount struct {
	pg   *pgStore
	name string

	// anonMu serializes unmarked callers, who share one writer row.
	anonMu sync.Mutex

	mu         sync.Mutex
	limitBytes int64                        // guarded by mu
	limitFiles int64                        // guarded by mu
	usedBytes  int64                        // guarded by mu
	usedFiles  int64                        // guarded by mu
	gen        uint64                       // guarded by mu; bumped by every figure taken from the database
	writers    map[*writerID]*clusterWriter // guarded by mu; writers holding room or an allowance
	anon       *clusterWriter               // guarded by mu; unmarked callers' row
}

func newClusterAccount(pg *pgStore, su StoredUser) *clusterAccount {
	return &clusterAccount{pg: pg, name: su.Name,
		limitBytes: su.QuotaBytes, limitFiles: su.QuotaFiles,
		usedBytes: su.UsedBytes, usedFiles: su.UsedFiles,
		writers: make(map[*writerID]*clusterWriter)}
}

func newWriterRowID() int64 {
	var b [8]byte
	rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) &^ (1 << 63))
}

// writer returns w's row (nil w: the unmarked callers'); mu must be held.
func (a *clusterAccount) writer(w *writerID) *clusterWriter {
	if w == nil {
		if a.anon == nil {
			a.anon = &clusterWriter{id: newWriterRowID()}
		}
		return a.anon
	}
	cw := a.writers[w]
	if cw == nil {
		cw = &clusterWriter{id: newWriterRowID(), label: w.label}
		a.writers[w] = cw
	}
	return cw
}

// forget drops w's row from memory once it holds nothing; mu must be held.
// A fresh reservation then starts a new row: the old one, at zero bytes,
// ends with its lease.
func (a *clusterAccount) forget(w *writerID, cw *clusterWriter) {
	if cw.held != 0 || cw.allow != 0 || cw.label != "" {
		return
	}
	a.pg.unrenew(cw.id)
	if w == nil {
		a.anon = nil
	} else {
		delete(a.writers, w)
	}
}

// figures are a users row's quota columns.
type figures struct {
	usedBytes, usedFiles, reserved, quotaBytes, quotaFiles int64
}

// take stores figures read from the database; mu must be held.
func (a *clusterAccount) take(f figures) {
	a.usedBytes, a.usedFiles = f.usedBytes, f.usedFiles
	a.limitBytes, a.limitFiles = f.quotaBytes, f.quotaFiles
	a.gen++
}

func (a *clusterAccount) lockAnon(w *writerID) func() {
	if w != nil {
		return func() {}
	}
	a.anonMu.Lock()
	return a.anonMu.Unlock
}

func (a *clusterAccount) Reserve(ctx context.Context, want int64) (int64, error) {
	if want < 0 {
		return 0, errNegativeReserve
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w := writerFrom(ctx)
	defer a.lockAnon(w)()
	for {
		a.mu.Lock()
		if want == 0 {
			// Asking for nothing is never refused (see account.Reserve).
			a.mu.Unlock()
			return 0, nil
		}
		cw := a.writer(w)
		cw.seq++
		id, seq, allow, held, label := cw.id, cw.seq, cw.allow, cw.held, cw.label
		send := allow
		if cw.credited {
			send = 0
		}
		if label != "" {
			// The row is this upload's for its whole life: renewed
			// from the first reserve on, answered or not.
			a.pg.renew(id)
		}
		a.mu.Unlock()
		granted, f, err := a.pg.reserve(ctx, a.name, id, seq, want, send, label)
		a.mu.Lock()
		if err != nil {
			a.forget(w, cw)
			a.mu.Unlock()
			return 0, err
		}
		a.take(f)
		if granted > 0 {
			cw.held += granted
			a.pg.renew(cw.id)
			a.mu.Unlock()
			return granted, nil
		}
		a.forget(w, cw)
		a.mu.Unlock()
		if f.quotaBytes+allow-f.usedBytes <= 0 {
			return 0, ErrQuotaExceeded
		}
		// The room left is held by reservations in flight, here or on
		// other nodes: only other writers' can come back to this one.
		if w == nil || f.reserved-held <= 0 {
			return 0, ErrQuotaExceeded
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(reserveRetry):
		}
	}
}

func (a *clusterAccount) Commit(ctx context.Context, reserved, written int64) error {
	if reserved < 0 || written < 0 {
		return fmt.Errorf("quota: commit of negative amounts (%d reserved, %d written)", reserved, written)
	}
	w := writerFrom(ctx)
	defer a.lockAnon(w)()
	a.mu.Lock()
	cw := a.writer(w)
	held := cw.held - min(reserved, cw.held)
	cw.seq++
	id, seq := cw.id, cw.seq
	a.mu.Unlock()
	f, err := a.pg.settle(context.WithoutCancel(ctx), a.name, id, seq, held, written)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		a.take(f)
	}
	// Whatever the answer, this writer no longer counts on the room: a
	// row the settle did not reach ends with its lease.
	cw.held = held
	a.forget(w, cw)
	if errors.Is(err, ErrNotFound) {
		return nil // a deleted user's usage has nowhere to go
	}
	return err
}

func (a *clusterAccount) Adjust(ctx context.Context, bytes, files int64) error {
	return a.adjust(ctx, bytes, files, true)
}

func (a *clusterAccount) Record(ctx context.Context, bytes, files int64) error {
	return a.adjust(ctx, bytes, files, false)
}

func (a *clusterAccount) adjust(ctx context.Context, bytes, files int64, check bool) error {
	if bytes == 0 && files == 0 {
		return nil
	}
	ok, f, err := a.pg.adjust(context.WithoutCancel(ctx), a.name, bytes, files, check)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.take(f)
	a.mu.Unlock()
	if !ok {
		return ErrQuotaExceeded
	}
	return nil
}

func (a *clusterAccount) Allowance(ctx context.Context, bytes int64) error {
	w := writerFrom(ctx)
	if w == nil {
		return errors.New("quota: allowance without a writer (accounts.WithWriter)")
	}
	if bytes < 0 {
		return errNegativeReserve
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cw := a.writer(w)
	cw.allow = bytes
	a.forget(w, cw)
	return nil
}

func (a *clusterAccount) Recount(ctx context.Context, bytes, files int64) error {
	if bytes < 0 || files < 0 {
		return fmt.Errorf("quota: recount of negative figures (%d bytes, %d files)", bytes, files)
	}
	err := a.pg.SetUsage(context.WithoutCancel(ctx), a.name, bytes, files)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.usedBytes, a.usedFiles = bytes, files
	a.gen++
	a.mu.Unlock()
	return nil
}

// Usage reads the row: another node's uploads change it too.
func (a *clusterAccount) Usage(ctx context.Context) (Usage, error) {
	f, err := a.pg.figures(ctx, a.name)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		a.take(f)
	}
	return Usage{UsedBytes: a.usedBytes, QuotaBytes: a.limitBytes,
		UsedFiles: a.usedFiles, QuotaFiles: a.limitFiles}, nil
}

// EndUpload implements UploadTracker.
func (a *clusterAccount) EndUpload(ctx context.Context) {
	w := writerFrom(ctx)
	if w == nil || w.label == "" {
		return
	}
	a.mu.Lock()
	cw := a.writers[w]
	if cw == nil {
		a.mu.Unlock()
		return
	}
	delete(a.writers, w)
	a.mu.Unlock()
	// A row left behind (the database unreachable) ends with its lease,
	// and then waits for a SettleOrphan that finds no file: harmless.
	ctx = context.WithoutCancel(ctx)
	retry(ctx, func(ctx context.Context) (struct{}, error) {
		_, err := a.pg.pool.Exec(ctx, "SELECT wharf_end($1, $2)", a.name, cw.id)
		return struct{}{}, err
	}, transient)
	a.pg.unrenew(cw.id)
}

// SettleOrphan implements UploadTracker (wharf_orphan).
func (a *clusterAccount) SettleOrphan(ctx context.Context, label string, stored int64) (OrphanState, error) {
	var st string
	if err := a.pg.pool.QueryRow(ctx, "SELECT wharf_orphan($1, $2, $3, $4)", a.name, label, stored, nowMS()).Scan(&st); err != nil {
		return OrphanUnknown, fmt.Errorf("%w: settle orphaned upload: %v", ErrUnavailable, err)
	}
	switch st {
	case "settled":
		return OrphanSettled, nil
	case "live":
		return OrphanLive, nil
	}
	return OrphanUnknown, nil
}

func (a *clusterAccount) setLimits(bytes, files int64) {
	a.mu.Lock()
	a.limitBytes, a.limitFiles = bytes, files
	a.mu.Unlock()
}

func (a *clusterAccount) committed() (bytes, files int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.usedBytes, a.usedFiles
}

// quiet: nothing of this account waits to be written (every change is
// written when made); writers holding room, and uploads, keep the user's
// state alive.
func (a *clusterAccount) quiet() (uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen, len(a.writers) == 0 && a.anon == nil
}

func (a *clusterAccount) load(gen uint64, bytes, files int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return false
	}
	a.usedBytes, a.usedFiles = bytes, files
	return true
}

// retry runs op until it succeeds, fails for good, or settleRetryFor has
// passed; safe reports whether a failed op may be sent again.
func retry[T any](ctx context.Context, op func(ctx context.Context) (T, error), safe func(error) bool) (T, error) {
	deadline := time.Now().Add(settleRetryFor)
	wait := 50 * time.Millisecond
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := op(c)
		cancel()
		if err == nil || errors.Is(err, ErrNotFound) || !safe(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// transient reports whether err may go away by itself: no answer from the
// server, or the server going down or out of connections. Any other answer
// of the server would be the same again.
func transient(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true
	}
	switch pe.Code[:2] {
	case "08", "53", "57": // connection exception, insufficient resources, operator intervention
		return true
	}
	return pe.Code == "40001" || pe.Code == "40P01" // serialization failure, deadlock
}

func scanFigures(row pgx.Row, head ...any) (figures, error) {
	var f figures
	err := row.Scan(append(head, &f.usedBytes, &f.usedFiles, &f.reserved, &f.quotaBytes, &f.quotaFiles)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, ErrNotFound
	}
	return f, err
}

// reserve asks the database for room (wharf_reserve), retried through an
// outage until ctx ends: the reserve's number makes a repeat harmless. A
// grant whose answer never came is held by a row nobody renews, which the
// sweep ends.
func (s *pgStore) reserve(ctx context.Context, name string, id, seq, want, allow int64, label string) (int64, figures, error) {
	var g int64
	f, err := retry(ctx, func(ctx context.Context) (figures, error) {
		return scanFigures(s.pool.QueryRow(ctx, "SELECT * FROM wharf_reserve($1, $2, $3, $4, $5, $6, $7, $8)",
			name, s.id, id, seq, want, allow, nowMS()+s.leaseFor.Milliseconds(), label), &g)
	}, transient)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return 0, f, fmt.Errorf("%w: reserve quota: %v", ErrUnavailable, err)
	}
	return g, f, err
}

// settle ends part of a reservation (wharf_settle), retried through an
// outage: the settle's number makes a repeat harmless.
func (s *pgStore) settle(ctx context.Context, name string, id, seq, held, written int64) (figures, error) {
	f, err := retry(ctx, func(ctx context.Context) (figures, error) {
		return scanFigures(s.pool.QueryRow(ctx, "SELECT * FROM wharf_settle($1, $2, $3, $4, $5)", name, id, seq, held, written))
	}, transient)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return f, fmt.Errorf("%w: settle quota: %v", ErrUnavailable, err)
	}
	return f, err
}

// adjust changes usage by deltas (wharf_adjust), retried through an outage
// only while the driver knows the call was not sent.
func (s *pgStore) adjust(ctx context.Context, name string, bytes, files int64, check bool) (bool, figures, error) {
	var ok bool
	f, err := retry(ctx, func(ctx context.Context) (figures, error) {
		return scanFigures(s.pool.QueryRow(ctx, "SELECT * FROM wharf_adjust($1, $2, $3, $4)", name, bytes, files, check), &ok)
	}, func(err error) bool { return pgconn.SafeToRetry(err) && transient(err) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, f, fmt.Errorf("%w: change usage: %v", ErrUnavailable, err)
	}
	return ok, f, err
}

// figures reads a user's quota columns.
func (s *pgStore) figures(ctx context.Context, name string) (figures, error) {
	return scanFigures(s.pool.QueryRow(ctx,
		"SELECT used_bytes, used_files, reserved_bytes, quota_bytes, quota_files FROM users WHERE name = $1", name))
}

// renew and unrenew add and remove a writer row from those this node
// keeps alive.
func (s *pgStore) renew(id int64) {
	s.mu.Lock()
	s.live[id] = struct{}{}
	s.mu.Unlock()
}

func (s *pgStore) unrenew(id int64) {
	s.mu.Lock()
	delete(s.live, id)
	s.mu.Unlock()
}

// renewReservations extends the leases of this node's live writers and
// sweeps every node's expired ones.
func (s *pgStore) renewReservations(ctx context.Context) {
	s.mu.Lock()
	ids := make([]int64, 0, len(s.live))
	for id := range s.live {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	now := nowMS()
	if len(ids) > 0 {
		s.pool.Exec(ctx, "UPDATE wharf_reservations SET lease_ms = $1 WHERE id = ANY($2)", now+s.leaseFor.Milliseconds(), ids)
	}
	s.pool.Exec(ctx, "SELECT wharf_sweep($1)", now)
}

// LockNames implements NameLocker with session advisory locks, held on a
// connection of a pool of their own: the usage changes made while they
// are held go through the main pool, which a full lock pool must not
// starve. A lock whose connection breaks is released by the server.
func (a *clusterAccount) LockNames(ctx context.Context, keys ...string) (func(), error) {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	conn, err := retry(ctx, func(ctx context.Context) (*pgxpool.Conn, error) { return a.pg.locks.Acquire(ctx) }, transient)
	if err != nil {
		return nil, fmt.Errorf("%w: name lock: %v", ErrUnavailable, err)
	}
	unlock := func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(c, "SELECT pg_advisory_unlock_all()"); err != nil {
			// Not knowing whether they are free, the connection goes.
			conn.Conn().Close(c)
		}
		conn.Release()
	}
	for _, k := range keys {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", "wharf-name:"+k); err != nil {
			unlock()
			return nil, fmt.Errorf("%w: name lock: %v", ErrUnavailable, err)
		}
	}
	// A writer in place elsewhere holds its key exclusively for the whole
	// write; a shared hold here (released with the rest) sees it.
	for _, k := range keys {
		var free bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock_shared(hashtextextended($1, 0))", "wharf-inplace:"+k).Scan(&free); err != nil {
			unlock()
			return nil, fmt.Errorf("%w: name lock: %v", ErrUnavailable, err)
		}
		if !free {
			unlock()
			return nil, ErrWrittenInPlace
		}
	}
	return unlock, nil
}

// HoldInPlace implements NameLocker: an exclusive advisory lock on a
// connection held for the write's whole run.
func (a *clusterAccount) HoldInPlace(ctx context.Context, key string) (func(), error) {
	conn, err := retry(ctx, func(ctx context.Context) (*pgxpool.Conn, error) { return a.pg.locks.Acquire(ctx) }, transient)
	if err != nil {
		return nil, fmt.Errorf("%w: in-place lock: %v", ErrUnavailable, err)
	}
	release := func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(c, "SELECT pg_advisory_unlock_all()"); err != nil {
			conn.Conn().Close(c)
		}
		conn.Release()
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", "wharf-inplace:"+key).Scan(&ok); err != nil {
		release()
		return nil, fmt.Errorf("%w: in-place lock: %v", ErrUnavailable, err)
	}
	if !ok {
		release()
		return nil, ErrWrittenInPlace
	}
	return release, nil
}

// Credit implements NameLocker (wharf_credit).
func (a *clusterAccount) Credit(ctx context.Context, key string, bytes int64) (bool, error) {
	w := writerFrom(ctx)
	if w == nil {
		return false, errors.New("quota: credit without a writer (accounts.WithWriter)")
	}
	if bytes < 0 {
		return false, errNegativeReserve
	}
	a.mu.Lock()
	cw := a.writer(w)
	id, label := cw.id, cw.label
	a.pg.renew(id)
	a.mu.Unlock()
	var ok bool
	_, err := retry(context.WithoutCancel(ctx), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, a.pg.pool.QueryRow(ctx, "SELECT wharf_credit($1, $2, $3, $4, $5, $6, $7)",
			a.name, a.pg.id, id, label, key, bytes, nowMS()+a.pg.leaseFor.Milliseconds()).Scan(&ok)
	}, transient)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || !ok {
		ok = false
		bytes = 0
	}
	// The local figure only tells a refused writer whether to wait; the
	// database decides with its own.
	cw.allow, cw.credited = bytes, bytes > 0
	a.forget(w, cw)
	if err != nil {
		return false, fmt.Errorf("%w: credit: %v", ErrUnavailable, err)
	}
	return ok, nil
}

// Revoke implements NameLocker (wharf_revoke).
func (a *clusterAccount) Revoke(ctx context.Context, key string) error {
	_, err := retry(context.WithoutCancel(ctx), func(ctx context.Context) (struct{}, error) {
		_, err := a.pg.pool.Exec(ctx, "SELECT wharf_revoke($1, $2)", a.name, key)
		return struct{}{}, err
	}, transient)
	if err != nil {
		return fmt.Errorf("%w: revoke credit: %v", ErrUnavailable, err)
	}
	return nil
}
