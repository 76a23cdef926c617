package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable means the account database cannot be reached: a login is
// refused (421) rather than served with rights that may be stale.
var ErrUnavailable = errors.New("account database unavailable")

// SharedBans is the failed-login count and ban list of a cluster's
// database, so a ban earned on one node holds on all of them.
type SharedBans interface {
	// LoginFailed counts a failed login from ip; after failures within
	// banFor ban ip for banFor. It returns the failures counted in the
	// current window and whether ip is banned now.
	LoginFailed(ctx context.Context, ip netip.Addr, after int, banFor time.Duration) (failures int, banned bool, err error)
	// Banned reports whether ip is banned, from the node's copy of the
	// list (kept current by the database's notices).
	Banned(ip netip.Addr) bool
	// Bans lists the addresses banned now, from the database.
	Bans(ctx context.Context) ([]SharedBan, error)
	// Lift removes ip's ban and failure count on every node (the others
	// drop their copy on the database's notice) and reports whether ip
	// was banned.
	Lift(ctx context.Context, ip netip.Addr) (bool, error)
	// WatchLifts calls f with every address whose ban is lifted, by any
	// node, as the notice arrives: a node drops its own count then too.
	WatchLifts(f func(ip netip.Addr))
}

// SharedBan is one address banned on a cluster's list.
type SharedBan struct {
	Addr     netip.Addr
	Failures int
	Until    time.Time
}

// SharedBans returns the cluster's shared ban list, nil when the store is
// one node's own (SQLite).
func (db *DB) SharedBans() SharedBans {
	if db.pg == nil {
		return nil
	}
	return db.pg
}

const (
	// sessionLease is how long a node's session rows outlive the node: a
	// node killed without closing them blocks their slots this long.
	sessionLease = 30 * time.Second
)

func nowMS() int64 { return time.Now().UnixMilli() }

// acquireSession takes one of name's max session slots across the cluster
// (ErrTooManySessions when all are taken; max 0: no limit, the row only
// counts the session for the user's shared rates) and returns the slot's
// id. The
// per-user advisory lock orders concurrent logins of one user on all nodes.
func (s *pgStore) acquireSession(ctx context.Context, name string, max int) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer tx.Rollback(ctx)
	now := nowMS()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('wharf-sessions:' || $1))", name); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM wharf_sessions WHERE name = $1 AND lease_ms < $2", name, now); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM wharf_sessions WHERE name = $1", name).Scan(&n); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if max > 0 && n >= max {
		return 0, ErrTooManySessions
	}
	var id int64
	if err := tx.QueryRow(ctx, "INSERT INTO wharf_sessions (name, store, lease_ms) VALUES ($1, $2, $3) RETURNING id",
		name, s.id, now+s.leaseFor.Milliseconds()).Scan(&id); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return id, nil
}

// releaseSession frees a slot; if the database cannot be reached the
// lease frees it later.
func (s *pgStore) releaseSession(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.pool.Exec(ctx, "DELETE FROM wharf_sessions WHERE id = $1", id)
}

// renewLeases runs until ctx ends, renewing this store's session and
// reservation leases every third of a lease, and sweeping expired
// reservations of any node.
func (s *pgStore) renewLeases(ctx context.Context) {
	every := s.leaseFor / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, cancel := context.WithTimeout(ctx, every)
		s.pool.Exec(c, "UPDATE wharf_sessions SET lease_ms = $1 WHERE store = $2", nowMS()+s.leaseFor.Milliseconds(), s.id)
		s.renewReservations(c)
		cancel()
	}
}

// LoginFailed implements SharedBans: one row per address counts failures
// within a window of banFor from the first, as the engine's own list does.
// A new ban is announced on the store's channel, so every node refuses the
// address from its next connection on.
func (s *pgStore) LoginFailed(ctx context.Context, ip netip.Addr, after int, banFor time.Duration) (int, bool, error) {
	key := ip.Unmap().String()
	now, win := nowMS(), banFor.Milliseconds()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback(ctx)
	var failures int
	var until int64
	err = tx.QueryRow(ctx, `INSERT INTO wharf_bans AS b (ip, failures, first_ms, until_ms) VALUES ($1, 1, $2, 0)
		ON CONFLICT (ip) DO UPDATE SET
			failures = CASE WHEN b.first_ms < $2 - $3 THEN 1 ELSE b.failures + 1 END,
			until_ms = CASE WHEN b.first_ms < $2 - $3 THEN 0 ELSE b.until_ms END,
			first_ms = CASE WHEN b.first_ms < $2 - $3 THEN $2 ELSE b.first_ms END
		RETURNING failures, until_ms`, key, now, win).Scan(&failures, &until)
	if err != nil {
		return 0, false, err
	}
	if until <= now && after > 0 && failures >= after {
		until = now + win
		if _, err := tx.Exec(ctx, "UPDATE wharf_bans SET until_ms = $1 WHERE ip = $2", until, key); err != nil {
			return 0, false, err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", pgChannel, s.id+" !ban "+key+" "+strconv.FormatInt(until, 10)); err != nil {
			return 0, false, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, err
	}
	if until > now {
		s.noteBan(key, until)
	}
	return failures, until > now, nil
}

// Banned implements SharedBans.
func (s *pgStore) Banned(ip netip.Addr) bool {
	key := ip.Unmap().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.bans[key]
	if !ok {
		return false
	}
	if until <= nowMS() {
		delete(s.bans, key)
		return false
	}
	return true
}

func (s *pgStore) noteBan(ip string, until int64) {
	s.mu.Lock()
	if s.bans[ip] < until {
		s.bans[ip] = until
	}
	s.mu.Unlock()
}

// Bans implements SharedBans.
func (s *pgStore) Bans(ctx context.Context) ([]SharedBan, error) {
	rows, err := s.pool.Query(ctx, "SELECT ip, failures, until_ms FROM wharf_bans WHERE until_ms > $1 ORDER BY ip", nowMS())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SharedBan
	for rows.Next() {
		var ip string
		var b SharedBan
		var until int64
		if err := rows.Scan(&ip, &b.Failures, &until); err != nil {
			return nil, err
		}
		if b.Addr, err = netip.ParseAddr(ip); err != nil {
			continue // not written by wharf
		}
		b.Until = time.UnixMilli(until)
		out = append(out, b)
	}
	return out, rows.Err()
}

// Lift implements SharedBans: the row goes, and a "!unban" notice tells
// every node (this one too) to drop its copy.
func (s *pgStore) Lift(ctx context.Context, ip netip.Addr) (bool, error) {
	key := ip.Unmap().String()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	var until int64
	err = tx.QueryRow(ctx, "DELETE FROM wharf_bans WHERE ip = $1 RETURNING until_ms", key).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", pgChannel, s.id+" !unban "+key); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	s.unban(key)
	return until > nowMS(), nil
}

// unban drops ip from the node's copy of the list and tells the watchers.
func (s *pgStore) unban(ip string) {
	s.mu.Lock()
	delete(s.bans, ip)
	watchers := s.liftWatchers
	s.mu.Unlock()
	if addr, err := netip.ParseAddr(ip); err == nil {
		for _, f := range watchers {
			f(addr)
		}
	}
}

// WatchLifts implements SharedBans.
func (s *pgStore) WatchLifts(f func(ip netip.Addr)) {
	s.mu.Lock()
	s.liftWatchers = append(s.liftWatchers, f)
	s.mu.Unlock()
}

// banNotice handles "IP UNTIL" of a "!ban" notice.
func (s *pgStore) banNotice(rest string) {
	ip, u, _ := strings.Cut(rest, " ")
	if until, err := strconv.ParseInt(u, 10, 64); err == nil {
		s.noteBan(ip, until)
	}
}

// loadBans reads the bans in force (at start and after a reconnect, when
// notices may have been missed).
func (s *pgStore) loadBans(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, "SELECT ip, until_ms FROM wharf_bans WHERE until_ms > $1", nowMS())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ip string
		var until int64
		if err := rows.Scan(&ip, &until); err != nil {
			return err
		}
		s.noteBan(ip, until)
	}
	return rows.Err()
}

// rateRefresh is how often a node recomputes its share of its users'
// rates (shareRates).
const rateRefresh = 250 * time.Millisecond

// shareRates runs until db.stopRates is closed: every rateRefresh it gives
// each live user with a rate limit the part of the rate that matches the
// part of the user's sessions this node holds, counted in the cluster's
// session rows. So the user's sessions on all nodes share --rate-up and
// --rate-down. Precision: the nodes' limits sum to the rate, except for
// the rateRefresh after sessions come or go (until every node has looked
// again the sum may be off by the shares that moved) and the rows of a
// node that died, which keep their share until their lease ends (30 s).
// Each limiter also allows a burst of an eighth of its rate. Sessions are
// counted, not transfers: a node whose sessions of the user are idle
// keeps their share, so the user may then move less than the rate.
func (db *DB) shareRates() {
	defer close(db.ratesDone)
	t := time.NewTicker(rateRefresh)
	defer t.Stop()
	for {
		select {
		case <-db.stopRates:
			return
		case <-t.C:
		}
		db.mu.Lock()
		var names []string
		var sts []*userState
		for name, st := range db.states {
			st.mu.RLock()
			limited := st.user.RateUp > 0 || st.user.RateDown > 0
			st.mu.RUnlock()
			if limited {
				names = append(names, name)
				sts = append(sts, st)
			}
		}
		db.mu.Unlock()
		if len(names) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), rateRefresh)
		shares, err := db.pg.sessionShares(ctx, names)
		cancel()
		if err != nil {
			continue // keep the shares last known
		}
		for i, name := range names {
			f, ok := shares[name]
			if !ok {
				f = 1 // no session anywhere: the next one starts alone
			}
			sts[i].lim.setShare(f)
		}
	}
}

// sessionShares returns, for the users named, the part of their open
// sessions that are this store's, leaving out users with none here.
func (s *pgStore) sessionShares(ctx context.Context, names []string) (map[string]float64, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, count(*) FILTER (WHERE store = $1), count(*)
		FROM wharf_sessions WHERE name = ANY($2) AND lease_ms >= $3 GROUP BY name`, s.id, names, nowMS())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]float64, len(names))
	for rows.Next() {
		var name string
		var mine, all int64
		if err := rows.Scan(&name, &mine, &all); err != nil {
			return nil, err
		}
		if mine > 0 && all > 0 {
			out[name] = float64(mine) / float64(all)
		}
	}
	return out, rows.Err()
}
