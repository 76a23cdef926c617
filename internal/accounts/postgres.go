package accounts

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed pgmigrations/*.sql
var pgMigrationFS embed.FS

const (
	// pgChannel carries the users table's change notices (see
	// pgmigrations/0001_users.sql) and the stores' own pings.
	pgChannel = "wharf_users"
	// pgMigrateLock is the advisory lock key that serializes migrations of
	// nodes starting at once ("wharf" in ASCII).
	pgMigrateLock = 0x7768617266
	// pgPingWait bounds how long Changed waits for its own ping to come
	// back through the listener; longer means the listener is cut off.
	pgPingWait = 2 * time.Second
	// pgMaxConns is the pool's default size: logins read one row, the
	// usage writer one update per user per interval.
	pgMaxConns = 16
	// pgLockConns bounds the connections holding name locks: one per
	// commit, DELE or RNTO in progress on the node.
	pgLockConns = 16
)

// pgStore is the PostgreSQL Store. Several processes (cluster nodes and
// admin commands) share one database; each store tags its connections with
// a random id (the wharf.store setting), which the users table's trigger
// puts in its change notices, so the listener can tell other writers'
// commits from its own.
type pgStore struct {
	pool  *pgxpool.Pool
	locks *pgxpool.Pool // connections holding name locks (LockNames)
	id    string
	lcfg  *pgx.ConnConfig // for the listener's own connection

	changedMu sync.Mutex // one Changed at a time

	mu           sync.Mutex
	changed      bool                     // guarded by mu: another writer committed since the last Changed
	listening    bool                     // guarded by mu: the listener is connected and LISTENing
	pings        map[uint64]chan struct{} // guarded by mu: Changed calls waiting for their ping
	seq          uint64                   // guarded by mu
	watchers     []func(name string)      // guarded by mu
	bans         map[string]int64         // guarded by mu: banned address -> until (Unix ms)
	liftWatchers []func(netip.Addr)       // guarded by mu
	live         map[int64]struct{}       // guarded by mu: reservation rows this node renews

	// leaseFor is how long session and reservation rows outlive their
	// node (sessionLease; tests shorten it before the renewer starts).
	leaseFor time.Duration

	cancel context.CancelFunc
	done   chan struct{} // closed when the listener has stopped
	lease  chan struct{} // closed when the lease renewer has stopped
}

// pgConfig parses a PostgreSQL URL or keyword/value string (pgx honours
// the PG* environment variables for what it leaves out).
func pgConfig(conn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		return nil, invalidf("database %s: %v", redactConn(conn), err)
	}
	if !strings.Contains(conn, "pool_max_conns") {
		cfg.MaxConns = pgMaxConns
	}
	return cfg, nil
}

// redactConn hides a password in a connection string for messages.
func redactConn(conn string) string {
	if cfg, err := pgconn.ParseConfig(conn); err == nil && cfg.Password != "" {
		return strings.ReplaceAll(conn, cfg.Password, "xxxxx")
	}
	return conn
}

// openPostgres connects to the database conn and migrates it.
func openPostgres(ctx context.Context, conn string) (*pgStore, error) {
	return openPostgresLease(ctx, conn, sessionLease)
}

// openPostgresLease is openPostgres with the lease of the node's rows.
func openPostgresLease(ctx context.Context, conn string, lease time.Duration) (*pgStore, error) {
	cfg, err := pgConfig(conn)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	rand.Read(b[:])
	s := &pgStore{id: hex.EncodeToString(b[:]), pings: make(map[uint64]chan struct{}),
		bans: make(map[string]int64), live: make(map[int64]struct{}), leaseFor: lease,
		done: make(chan struct{}), lease: make(chan struct{})}
	cfg.ConnConfig.RuntimeParams["wharf.store"] = s.id
	s.lcfg = cfg.ConnConfig.Copy()
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", redactConn(conn), err)
	}
	lockCfg := cfg.Copy()
	lockCfg.MaxConns = pgLockConns
	if s.locks, err = pgxpool.NewWithConfig(ctx, lockCfg); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("database %s: %w", redactConn(conn), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.locks.Close()
		s.pool.Close()
		return nil, fmt.Errorf("database %s: %w", redactConn(conn), err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ready := make(chan struct{})
	go s.listen(lctx, ready)
	go func() {
		defer close(s.lease)
		s.renewLeases(lctx)
	}()
	// Wait for the first LISTEN, so changes from now on are all seen.
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	return s, nil
}

func pgMigrations() ([]string, error) {
	names, err := fs.Glob(pgMigrationFS, "pgmigrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		b, err := pgMigrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// migrate brings the schema up to date under an advisory lock, so nodes
// starting at once migrate one after the other (the later ones find
// nothing to do).
func (s *pgStore) migrate(ctx context.Context) error {
	scripts, err := pgMigrations()
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgMigrateLock)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS wharf_schema (version integer NOT NULL)"); err != nil {
		return err
	}
	var v int
	err = tx.QueryRow(ctx, "SELECT version FROM wharf_schema").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := tx.Exec(ctx, "INSERT INTO wharf_schema VALUES (0)"); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if v > len(scripts) {
		return fmt.Errorf("database schema version %d is newer than this wharf understands (%d): upgrade wharf", v, len(scripts))
	}
	for i := v; i < len(scripts); i++ {
		if _, err := tx.Exec(ctx, scripts[i]); err != nil {
			return fmt.Errorf("schema version %d: %w", i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE wharf_schema SET version = $1", len(scripts)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// listen keeps a connection LISTENing on pgChannel, reconnecting after
// failures (a restarted server). Notices missed while it was cut off are
// unknowable, so a reconnect counts as a change.
func (s *pgStore) listen(ctx context.Context, ready chan struct{}) {
	defer close(s.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, &ready)
		s.mu.Lock()
		s.listening = false
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		_ = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (s *pgStore) listenOnce(ctx context.Context, ready *chan struct{}) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := pgx.ConnectConfig(cctx, s.lcfg)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		return err
	}
	// Bans announced while no one listened are read from the table.
	if err := s.loadBans(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	first := *ready != nil
	s.listening = true
	if !first {
		s.changed = true
	}
	watchers := s.watchers
	s.mu.Unlock()
	if first {
		close(*ready)
		*ready = nil
	} else {
		for _, w := range watchers {
			w("")
		}
	}
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s.notice(n.Payload)
	}
}

// notice handles one payload of pgChannel: "STORE NAME" for a change of
// user NAME by store STORE, or "STORE !ping SEQ" for a store's ping.
func (s *pgStore) notice(payload string) {
	store, rest, _ := strings.Cut(payload, " ")
	if ban, ok := strings.CutPrefix(rest, "!ban "); ok {
		s.banNotice(ban)
		return
	}
	if ip, ok := strings.CutPrefix(rest, "!unban "); ok {
		s.unban(ip)
		return
	}
	if seq, ok := strings.CutPrefix(rest, "!ping "); ok {
		if store != s.id {
			return
		}
		n, _ := strconv.ParseUint(seq, 10, 64)
		s.mu.Lock()
		if ch := s.pings[n]; ch != nil {
			close(ch)
			delete(s.pings, n)
		}
		s.mu.Unlock()
		return
	}
	if store == s.id {
		return
	}
	s.mu.Lock()
	s.changed = true
	watchers := s.watchers
	s.mu.Unlock()
	for _, w := range watchers {
		w(rest)
	}
}

// watch calls f with the name of every user another writer changed, as the
// notice arrives ("" after a reconnect: any user may have changed).
func (s *pgStore) watch(f func(name string)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, f)
	s.mu.Unlock()
}

// Changed reports the notices of other writers received since the last
// call. To see every commit made before it was called, it sends a ping of
// its own and waits for it to come back: PostgreSQL delivers notices in
// commit order, so any earlier commit's notice arrives first. The ping
// never waits for a writer's locks.
func (s *pgStore) Changed(ctx context.Context) (bool, error) {
	if !s.changedMu.TryLock() {
		return false, ErrBusy
	}
	defer s.changedMu.Unlock()
	s.mu.Lock()
	if !s.listening {
		s.mu.Unlock()
		return false, errors.New("database change listener is not connected")
	}
	s.seq++
	seq, ch := s.seq, make(chan struct{})
	s.pings[seq] = ch
	s.mu.Unlock()
	drop := func() {
		s.mu.Lock()
		delete(s.pings, seq)
		s.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, pgPingWait)
	defer cancel()
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", pgChannel, s.id+" !ping "+strconv.FormatUint(seq, 10)); err != nil {
		drop()
		return false, fmt.Errorf("database ping: %w", err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		drop()
		return false, fmt.Errorf("database ping: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changed
	s.changed = false
	return c, nil
}

func (s *pgStore) Close() error {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		<-s.lease
	}
	s.locks.Close()
	s.pool.Close()
	return nil
}

func (s *pgStore) GetUser(ctx context.Context, name string) (StoredUser, error) {
	return gotUser(name, pgx.ErrNoRows)(scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE name = $1", name)))
}

func (s *pgStore) ListUsers(ctx context.Context) ([]StoredUser, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+userColumns+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	return collectUsers(rows)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

const pgInsertUser = `INSERT INTO users (name, password_hash, home, perms, path_perms, quota_bytes,
	quota_files, rate_up, rate_down, max_sessions, allow_from, tls_required, disabled, expires,
	used_bytes, used_files, created, updated)
	VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`

func (s *pgStore) AddUser(ctx context.Context, u StoredUser) error {
	args, err := insertArgs(u)
	if err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	if _, err := s.pool.Exec(ctx, pgInsertUser, args...); err != nil {
		if isUniqueViolation(err) {
			return ErrExists
		}
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	return nil
}

// pgChangedOne maps a write's result to ErrNotFound when it touched no row.
func pgChangedOne(tag pgconn.CommandTag, err error, what, name string) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *pgStore) UpdateUser(ctx context.Context, u User) error {
	set, err := settingArgs(u)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.Name, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET home = $1, perms = $2, path_perms = $3, quota_bytes = $4,
		quota_files = $5, rate_up = $6, rate_down = $7, max_sessions = $8, allow_from = $9,
		tls_required = $10, disabled = $11, expires = $12, updated = $13 WHERE name = $14`,
		append(set, time.Now().Unix(), u.Name)...)
	return pgChangedOne(tag, err, "update user", u.Name)
}

func (s *pgStore) SetPasswordHash(ctx context.Context, name, hash string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE users SET password_hash = $1, updated = $2 WHERE name = $3", hash, time.Now().Unix(), name)
	return pgChangedOne(tag, err, "set password of", name)
}

func (s *pgStore) DeleteUser(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM users WHERE name = $1", name)
	return pgChangedOne(tag, err, "delete user", name)
}

func (s *pgStore) AddUsage(ctx context.Context, name string, bytes, files int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET used_bytes = greatest(0, used_bytes + $1),
		used_files = greatest(0, used_files + $2) WHERE name = $3`, bytes, files, name)
	return pgChangedOne(tag, err, "add usage of", name)
}

func (s *pgStore) SetUsage(ctx context.Context, name string, bytes, files int64) error {
	tag, err := s.pool.Exec(ctx, "UPDATE users SET used_bytes = $1, used_files = $2 WHERE name = $3",
		max(0, bytes), max(0, files), name)
	return pgChangedOne(tag, err, "set usage of", name)
}

func (s *pgStore) ReplaceUsers(ctx context.Context, users []StoredUser, replace bool) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("import users: %w", err)
	}
	defer tx.Rollback(ctx)
	for _, u := range users {
		if replace {
			if _, err := tx.Exec(ctx, "DELETE FROM users WHERE name = $1", u.Name); err != nil {
				return fmt.Errorf("import user %s: %w", u.Name, err)
			}
		}
		args, err := insertArgs(u)
		if err != nil {
			return fmt.Errorf("import user %s: %w", u.Name, err)
		}
		if _, err := tx.Exec(ctx, pgInsertUser, args...); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("import user %s: %w", u.Name, ErrExists)
			}
			return fmt.Errorf("import user %s: %w", u.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("import users: %w", err)
	}
	return nil
}

func (s *pgStore) AddAdmin(ctx context.Context, a Admin) error {
	now := time.Now().Unix()
	if _, err := s.pool.Exec(ctx, "INSERT INTO admins (name, password_hash, token_hash, created, updated) VALUES ($1,$2,$3,$4,$5)",
		a.Name, a.PasswordHash, a.TokenHash, now, now); err != nil {
		if isUniqueViolation(err) {
			return ErrExists
		}
		return fmt.Errorf("add admin %s: %w", a.Name, err)
	}
	return nil
}

func (s *pgStore) getAdmin(ctx context.Context, where, arg string) (Admin, error) {
	a, err := scanAdmin(s.pool.QueryRow(ctx, "SELECT "+adminColumns+" FROM admins WHERE "+where+" = $1", arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Admin{}, ErrNotFound
	}
	if err != nil {
		return Admin{}, fmt.Errorf("get admin: %w", err)
	}
	return a, nil
}

func (s *pgStore) GetAdmin(ctx context.Context, name string) (Admin, error) {
	return s.getAdmin(ctx, "name", name)
}

func (s *pgStore) AdminByToken(ctx context.Context, hash string) (Admin, error) {
	if hash == "" {
		return Admin{}, ErrNotFound
	}
	return s.getAdmin(ctx, "token_hash", hash)
}

func (s *pgStore) SetAdminToken(ctx context.Context, name, hash string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE admins SET token_hash = $1, updated = $2 WHERE name = $3", hash, time.Now().Unix(), name)
	return pgChangedOne(tag, err, "set token of admin", name)
}

func (s *pgStore) SetAdminPasswordHash(ctx context.Context, name, hash string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE admins SET password_hash = $1, updated = $2 WHERE name = $3", hash, time.Now().Unix(), name)
	return pgChangedOne(tag, err, "set password of admin", name)
}

func (s *pgStore) ListAdmins(ctx context.Context) ([]Admin, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+adminColumns+" FROM admins ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	defer rows.Close()
	var out []Admin
	for rows.Next() {
		a, err := scanAdmin(rows)
		if err != nil {
			return nil, fmt.Errorf("list admins: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *pgStore) DeleteAdmin(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM admins WHERE name = $1", name)
	return pgChangedOne(tag, err, "delete admin", name)
}
