package accounts

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

const (
	// sqliteBusyTimeout is how long a writer waits for another process's
	// write (an admin command beside the server) before failing: writes
	// are tiny, so seconds mean something is stuck.
	sqliteBusyTimeout = 10 * time.Second
	// sqliteReaders bounds the read pool: logins read one row each, and
	// more connections than cores buy nothing on SQLite.
	sqliteReaders = 4
)

// sqliteStore is the SQLite Store. All writes of the process go through one
// connection (w, guarded by wmu), which serializes them without
// SQLITE_BUSY between our own connections and lets PRAGMA data_version on
// that connection see exactly the commits of other connections.
type sqliteStore struct {
	rdb *sql.DB // read pool, query_only
	// The statements of the hot paths (every login reads a row, the usage
	// writer adds deltas) are prepared once: SQLite's parser cost more
	// than the query itself (BENCHMARKS.md).
	getUser  *sql.Stmt // on rdb
	addUsage *sql.Stmt // on w; guarded by wmu
	dataVer  *sql.Stmt // on w; guarded by wmu

	// Version has a read connection of its own: logins ask it at once
	// and concurrently, and must neither wait behind a usage write on w
	// nor take one of the pool's connections for a whole login.
	vdb    *sql.DB
	vconn  *sql.Conn // used by one query at a time (vrunning)
	verStm *sql.Stmt // on vconn
	vmu    sync.Mutex
	vcond  *sync.Cond // on vmu: a version query finished
	vrun   bool       // guarded by vmu: a version query runs
	vnext  *verGroup  // guarded by vmu: callers waiting for the next query

	wdb         *sql.DB
	wmu         sync.Mutex
	w           *sql.Conn // guarded by wmu
	dataVersion int64     // guarded by wmu; -1 before the first Changed
}

// openSQLite opens (creating if needed) the database file and migrates it.
func openSQLite(ctx context.Context, file string) (*sqliteStore, error) {
	u := url.URL{Scheme: "file", Path: file}
	base := u.String() + fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)",
		sqliteBusyTimeout.Milliseconds())
	wdb, err := sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	w, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	s := &sqliteStore{wdb: wdb, w: w, dataVersion: -1}
	s.vcond = sync.NewCond(&s.vmu)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate %s: %w", file, err)
	}
	rdb, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	rdb.SetMaxOpenConns(sqliteReaders)
	rdb.SetMaxIdleConns(sqliteReaders)
	s.rdb = rdb
	if s.getUser, err = rdb.PrepareContext(ctx, "SELECT "+userColumns+" FROM users WHERE name = ?"); err == nil {
		if s.addUsage, err = w.PrepareContext(ctx, addUsageSQL); err == nil {
			s.dataVer, err = w.PrepareContext(ctx, "PRAGMA data_version")
		}
	}
	if err == nil {
		err = s.openVersionConn(ctx, base)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare %s: %w", file, err)
	}
	return s, nil
}

func (s *sqliteStore) openVersionConn(ctx context.Context, base string) error {
	vdb, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	vdb.SetMaxOpenConns(1)
	vdb.SetConnMaxLifetime(0)
	s.vdb = vdb
	if s.vconn, err = vdb.Conn(ctx); err != nil {
		return err
	}
	s.verStm, err = s.vconn.PrepareContext(ctx, "PRAGMA data_version")
	return err
}

// migrations returns the embedded migration scripts in order; script N
// (1-based) brings the schema to user_version N.
func migrations() ([]string, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int {
	m, _ := migrations()
	return len(m)
}

func (s *sqliteStore) migrate(ctx context.Context) error {
	scripts, err := migrations()
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(scripts) {
		return fmt.Errorf("database schema version %d is newer than this wharf understands (%d): upgrade wharf", v, len(scripts))
	}
	if v == len(scripts) {
		return nil
	}
	for i := v; i < len(scripts); i++ {
		if _, err := tx.ExecContext(ctx, scripts[i]); err != nil {
			return fmt.Errorf("schema version %d: %w", i+1, err)
		}
	}
	// PRAGMA takes no parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(scripts))); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *sqliteStore) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.getUser, s.addUsage, s.dataVer, s.verStm} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.vconn != nil {
		errs = append(errs, s.vconn.Close())
	}
	if s.vdb != nil {
		errs = append(errs, s.vdb.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	s.wmu.Lock()
	errs = append(errs, s.w.Close())
	s.wmu.Unlock()
	errs = append(errs, s.wdb.Close())
	return errors.Join(errs...)
}

const userColumns = `name, password_hash, home, perms, path_perms, quota_bytes, quota_files,
	rate_up, rate_down, max_sessions, allow_from, tls_required, disabled, expires, used_bytes, used_files`

type rowScanner interface{ Scan(dest ...any) error }

// userRows is a listing of users rows: database/sql's *Rows and pgx.Rows
// alike, so both stores read it with one loop.
type userRows interface {
	rowScanner
	Next() bool
	Err() error
}

// collectUsers reads every row of a listing of userColumns.
func collectUsers(rows userRows) ([]StoredUser, error) {
	var out []StoredUser
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// gotUser finishes a lookup of user name: noRows (the driver's "no row"
// sentinel) becomes ErrNotFound, other errors name the user.
func gotUser(name string, noRows error) func(StoredUser, error) (StoredUser, error) {
	return func(u StoredUser, err error) (StoredUser, error) {
		if errors.Is(err, noRows) {
			return u, ErrNotFound
		}
		if err != nil {
			return u, fmt.Errorf("get user %s: %w", name, err)
		}
		return u, nil
	}
}

func scanUser(r rowScanner) (StoredUser, error) {
	var u StoredUser
	var pathPerms, allow string
	var expires int64
	err := r.Scan(&u.Name, &u.PasswordHash, &u.Home, &u.Perms, &pathPerms, &u.QuotaBytes, &u.QuotaFiles,
		&u.RateUp, &u.RateDown, &u.MaxSessions, &allow, &u.TLSRequired, &u.Disabled, &expires,
		&u.UsedBytes, &u.UsedFiles)
	if err != nil {
		return u, err
	}
	if pathPerms != "" {
		if err := json.Unmarshal([]byte(pathPerms), &u.PathPerms); err != nil {
			return u, fmt.Errorf("user %s: path_perms: %w", u.Name, err)
		}
	}
	if allow != "" {
		for _, p := range strings.Split(allow, ",") {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return u, fmt.Errorf("user %s: allow_from: %w", u.Name, err)
			}
			u.AllowFrom = append(u.AllowFrom, pfx)
		}
	}
	if expires != 0 {
		u.Expires = time.Unix(expires, 0).UTC()
	}
	return u, nil
}

// settingArgs returns the settings columns of u in the order
// home, perms, path_perms, quota_bytes, quota_files, rate_up, rate_down,
// max_sessions, allow_from, tls_required, disabled, expires.
func settingArgs(u User) ([]any, error) {
	var pathPerms string
	if len(u.PathPerms) > 0 {
		b, err := json.Marshal(u.PathPerms)
		if err != nil {
			return nil, err
		}
		pathPerms = string(b)
	}
	allow := make([]string, len(u.AllowFrom))
	for i, p := range u.AllowFrom {
		allow[i] = p.String()
	}
	var expires int64
	if !u.Expires.IsZero() {
		expires = u.Expires.Unix()
	}
	return []any{u.Home, int64(u.Perms), pathPerms, u.QuotaBytes, u.QuotaFiles, u.RateUp, u.RateDown,
		u.MaxSessions, strings.Join(allow, ","), u.TLSRequired, u.Disabled, expires}, nil
}

func (s *sqliteStore) GetUser(ctx context.Context, name string) (StoredUser, error) {
	return gotUser(name, sql.ErrNoRows)(scanUser(s.getUser.QueryRowContext(ctx, name)))
}

func (s *sqliteStore) ListUsers(ctx context.Context) ([]StoredUser, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	return collectUsers(rows)
}

// exec runs one write statement on the write connection.
func (s *sqliteStore) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.w.ExecContext(ctx, query, args...)
}

func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
}

const insertUser = `INSERT INTO users (name, password_hash, home, perms, path_perms, quota_bytes,
	quota_files, rate_up, rate_down, max_sessions, allow_from, tls_required, disabled, expires,
	used_bytes, used_files, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

func insertArgs(u StoredUser) ([]any, error) {
	set, err := settingArgs(u.User)
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	args := append([]any{u.Name, u.PasswordHash}, set...)
	return append(args, max(0, u.UsedBytes), max(0, u.UsedFiles), now, now), nil
}

func (s *sqliteStore) AddUser(ctx context.Context, u StoredUser) error {
	args, err := insertArgs(u)
	if err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	if _, err := s.exec(ctx, insertUser, args...); err != nil {
		if isConstraint(err) {
			return ErrExists
		}
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	return nil
}

// changedOne maps a write's result to ErrNotFound when it touched no row.
func changedOne(res sql.Result, err error, what, name string) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s %s: %w", what, name, err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *sqliteStore) UpdateUser(ctx context.Context, u User) error {
	set, err := settingArgs(u)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.Name, err)
	}
	res, err := s.exec(ctx, `UPDATE users SET home = ?, perms = ?, path_perms = ?, quota_bytes = ?,
		quota_files = ?, rate_up = ?, rate_down = ?, max_sessions = ?, allow_from = ?,
		tls_required = ?, disabled = ?, expires = ?, updated = ? WHERE name = ?`,
		append(set, time.Now().Unix(), u.Name)...)
	return changedOne(res, err, "update user", u.Name)
}

func (s *sqliteStore) SetPasswordHash(ctx context.Context, name, hash string) error {
	res, err := s.exec(ctx, "UPDATE users SET password_hash = ?, updated = ? WHERE name = ?", hash, time.Now().Unix(), name)
	return changedOne(res, err, "set password of", name)
}

func (s *sqliteStore) DeleteUser(ctx context.Context, name string) error {
	res, err := s.exec(ctx, "DELETE FROM users WHERE name = ?", name)
	return changedOne(res, err, "delete user", name)
}

const addUsageSQL = `UPDATE users SET used_bytes = max(0, used_bytes + ?),
	used_files = max(0, used_files + ?) WHERE name = ?`

func (s *sqliteStore) AddUsage(ctx context.Context, name string, bytes, files int64) error {
	s.wmu.Lock()
	res, err := s.addUsage.ExecContext(ctx, bytes, files, name)
	s.wmu.Unlock()
	return changedOne(res, err, "add usage of", name)
}

func (s *sqliteStore) SetUsage(ctx context.Context, name string, bytes, files int64) error {
	res, err := s.exec(ctx, "UPDATE users SET used_bytes = ?, used_files = ? WHERE name = ?",
		max(0, bytes), max(0, files), name)
	return changedOne(res, err, "set usage of", name)
}

func (s *sqliteStore) ReplaceUsers(ctx context.Context, users []StoredUser, replace bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import users: %w", err)
	}
	defer tx.Rollback()
	for _, u := range users {
		if replace {
			if _, err := tx.ExecContext(ctx, "DELETE FROM users WHERE name = ?", u.Name); err != nil {
				return fmt.Errorf("import user %s: %w", u.Name, err)
			}
		}
		args, err := insertArgs(u)
		if err != nil {
			return fmt.Errorf("import user %s: %w", u.Name, err)
		}
		if _, err := tx.ExecContext(ctx, insertUser, args...); err != nil {
			if isConstraint(err) {
				return fmt.Errorf("import user %s: %w", u.Name, ErrExists)
			}
			return fmt.Errorf("import user %s: %w", u.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import users: %w", err)
	}
	return nil
}

// Version returns PRAGMA data_version of a connection of its own, which
// changes with every commit of any other connection: another process's
// admin command, and this process's own writes.
//
// Callers that arrive while a query runs share the next one, which starts
// after all of them arrived, so each still sees every commit made before
// it asked. Each query is a read transaction (about 30 us with its shared
// memory locks), and 50 logins at once would otherwise queue for one each.
func (s *sqliteStore) Version(ctx context.Context) (int64, bool) {
	s.vmu.Lock()
	if g := s.vnext; g != nil {
		s.vmu.Unlock()
		<-g.done
		return g.v, g.ok
	}
	g := &verGroup{done: make(chan struct{})}
	s.vnext = g
	for s.vrun {
		s.vcond.Wait()
	}
	s.vrun, s.vnext = true, nil // later callers form the next group
	s.vmu.Unlock()
	err := s.verStm.QueryRowContext(context.WithoutCancel(ctx)).Scan(&g.v)
	g.ok = err == nil
	s.vmu.Lock()
	s.vrun = false
	s.vcond.Broadcast()
	s.vmu.Unlock()
	close(g.done)
	return g.v, g.ok
}

// verGroup is one data_version query shared by the callers waiting for it.
type verGroup struct {
	done chan struct{} // closed when v and ok are set
	v    int64
	ok   bool
}

// Changed compares PRAGMA data_version on the write connection with its
// last value: SQLite bumps it when any other connection commits, and our
// own writes all use this connection, so a change means someone else wrote.
func (s *sqliteStore) Changed(ctx context.Context) (bool, error) {
	if !s.wmu.TryLock() {
		return false, ErrBusy
	}
	defer s.wmu.Unlock()
	var v int64
	if err := s.dataVer.QueryRowContext(ctx).Scan(&v); err != nil {
		return false, fmt.Errorf("data_version: %w", err)
	}
	changed := s.dataVersion >= 0 && v != s.dataVersion
	s.dataVersion = v
	return changed, nil
}

const adminColumns = "name, password_hash, token_hash, created"

func scanAdmin(r rowScanner) (Admin, error) {
	var a Admin
	var created int64
	err := r.Scan(&a.Name, &a.PasswordHash, &a.TokenHash, &created)
	a.Created = time.Unix(created, 0).UTC()
	return a, err
}

func (s *sqliteStore) AddAdmin(ctx context.Context, a Admin) error {
	now := time.Now().Unix()
	if _, err := s.exec(ctx, "INSERT INTO admins (name, password_hash, token_hash, created, updated) VALUES (?,?,?,?,?)",
		a.Name, a.PasswordHash, a.TokenHash, now, now); err != nil {
		if isConstraint(err) {
			return ErrExists
		}
		return fmt.Errorf("add admin %s: %w", a.Name, err)
	}
	return nil
}

func (s *sqliteStore) getAdmin(ctx context.Context, where, arg string) (Admin, error) {
	a, err := scanAdmin(s.rdb.QueryRowContext(ctx, "SELECT "+adminColumns+" FROM admins WHERE "+where+" = ?", arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Admin{}, ErrNotFound
	}
	if err != nil {
		return Admin{}, fmt.Errorf("get admin: %w", err)
	}
	return a, nil
}

func (s *sqliteStore) GetAdmin(ctx context.Context, name string) (Admin, error) {
	return s.getAdmin(ctx, "name", name)
}

func (s *sqliteStore) AdminByToken(ctx context.Context, hash string) (Admin, error) {
	if hash == "" {
		return Admin{}, ErrNotFound
	}
	return s.getAdmin(ctx, "token_hash", hash)
}

func (s *sqliteStore) SetAdminToken(ctx context.Context, name, hash string) error {
	res, err := s.exec(ctx, "UPDATE admins SET token_hash = ?, updated = ? WHERE name = ?", hash, time.Now().Unix(), name)
	return changedOne(res, err, "set token of admin", name)
}

func (s *sqliteStore) SetAdminPasswordHash(ctx context.Context, name, hash string) error {
	res, err := s.exec(ctx, "UPDATE admins SET password_hash = ?, updated = ? WHERE name = ?", hash, time.Now().Unix(), name)
	return changedOne(res, err, "set password of admin", name)
}

func (s *sqliteStore) ListAdmins(ctx context.Context) ([]Admin, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+adminColumns+" FROM admins ORDER BY name")
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

func (s *sqliteStore) DeleteAdmin(ctx context.Context, name string) error {
	res, err := s.exec(ctx, "DELETE FROM admins WHERE name = ?", name)
	return changedOne(res, err, "delete admin", name)
}
