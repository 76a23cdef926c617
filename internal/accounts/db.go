package accounts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Options tune Open.
type Options struct {
	// MustExist refuses to create a missing data directory (for commands
	// that only read or change existing users).
	MustExist bool

	// Anonymous lets "anonymous" and "ftp" log in with any password,
	// read-only, on AnonymousHome (required then). Off by default.
	Anonymous     bool
	AnonymousHome string
	// AnonymousIncoming, when set, names a folder of AnonymousHome
	// ("incoming") where anonymous users may upload and make folders but
	// not list, download, overwrite or delete: a drop box.
	AnonymousIncoming string
	// AnonymousQuotaBytes and AnonymousQuotaFiles bound what all
	// anonymous visitors together may leave in AnonymousIncoming (0: the
	// defaults, negative: unlimited); what it holds at start counts.
	AnonymousQuotaBytes, AnonymousQuotaFiles int64

	// Homes, when set, is where the users' homes are stored instead of
	// the local disk (an object store's prefixes): homes are still named
	// by their paths, and Homes maps them. Anonymous homes stay local.
	Homes Homes

	// Argon2 sets the cost of new password hashes; zero: DefaultArgon2().
	Argon2 Argon2Params

	// DB names the database (see OpenStore); "" is DefaultDB, the
	// data directory's SQLite file. Ignored when Store is set.
	DB string
	// Store, when set, is the store to use instead of opening DB; Close
	// closes it.
	Store Store
	// StoreTiming, when set, is told the latency of every Store call
	// (op is the method name), for metrics.
	StoreTiming func(op string, d time.Duration)

	// PollInterval bounds how stale a running server's view of an account
	// is: Session.User checks for changes committed by other processes at
	// most this often. Zero: DefaultPollInterval.
	PollInterval time.Duration
}

// DefaultPollInterval is the staleness bound of live admin changes. One
// check is a single PRAGMA data_version on the write connection: measured
// (BenchmarkSessionUser) about 20 µs a call when checking every time, 0.3 µs
// when served from memory between checks. Checking at most every 100 ms
// keeps a busy server's commands from queueing on that one connection,
// while admins still see a change take effect "at once".
const DefaultPollInterval = 100 * time.Millisecond

// DB is the account database of a data directory: a Store plus the
// in-process state of logged-in users (their shared quota accounts and
// session counts). It implements Authenticator.
//
// Live changes: Login reads the user's row afresh unless nothing at all was
// committed to the database since this process last read it (checked on
// every login with PRAGMA data_version, plus a count of this process's own
// admin writes), so a change made elsewhere applies to the very next
// login. Session.User
// checks Store.Changed at most every PollInterval and then reloads the rows
// of the users with state in this process, so a change committed by a
// separate `wharf user` process is seen by the next command at most
// PollInterval after it was committed.
//
// Usage: the in-process account is authoritative for limits; every delta is
// applied to it and then written to the store as a delta, in the background
// within usageFlushInterval (coalesced per user), and at the latest by
// Close: a crash loses at most that interval of usage changes. Figures read back
// from the store (after a rescan elsewhere) replace the in-process ones only
// when the account is quiet (no reservation in flight, no delta on its way
// to the store, none applied since the read began); otherwise the reload is
// retried on the next poll.
type DB struct {
	dir   string
	store Store
	pg    *pgStore     // the store when it is PostgreSQL, shared by a cluster's nodes
	usage *usageWriter // writes the accounts' usage deltas to store
	v     *verifier
	opts  Options
	slots slots
	anon  *memUser // nil unless Options.Anonymous; memory-only quota

	mu     sync.Mutex
	states map[string]*userState // guarded by mu; users seen by Login

	// stopRates ends shareRates (nil when not in a cluster); ratesDone is
	// closed when it has ended.
	stopRates, ratesDone chan struct{}

	writes   atomic.Int64 // admin writes of this process (see rowVersion)
	lastPoll atomic.Int64 // unix nanoseconds of the last Changed check
	pollMu   sync.Mutex   // one poller at a time; others use what they have
}

// userState is a user's live state in the process, shared by its sessions.
type userState struct {
	acct liveAccount // immutable
	lim  limits      // the user's shared rate limiters

	mu        sync.RWMutex
	user      User       // guarded by mu; settings as last read
	hash      string     // guarded by mu
	row       rowVersion // guarded by mu; when user and hash were read
	deleted   bool       // guarded by mu
	needUsage bool       // guarded by mu; store usage not yet taken in
}

// Open opens the data directory dataDir (creating it unless opts.MustExist)
// and its database, migrating the schema.
func Open(ctx context.Context, dataDir string, opts Options) (*DB, error) {
	dir, err := prepareDataDir(dataDir, opts.MustExist)
	if errors.Is(err, ErrNoDataDir) && opts.Store == nil {
		// A shared PostgreSQL database needs no data directory: an admin
		// command may run anywhere. Only default homes are named after it.
		if kind, _, perr := ParseDB(opts.DB); perr == nil && kind == "postgres" {
			dir, err = filepath.Abs(dataDir)
		}
	}
	if err != nil {
		return nil, err
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	db := &DB{dir: dir, opts: opts, states: make(map[string]*userState)}
	if opts.Anonymous {
		if db.anon, err = anonymousUser(dir, opts); err != nil {
			return nil, err
		}
	}
	store := opts.Store
	if store == nil {
		if store, err = OpenStore(ctx, opts.DB, dir); err != nil {
			return nil, err
		}
	}
	db.store = store
	db.pg, _ = store.(*pgStore)
	if opts.StoreTiming != nil {
		db.store = timedStore{Store: store, observe: opts.StoreTiming}
	}
	// Take Changed's baseline now: its first call reports nothing, and if
	// that call came from the first poll after a skipped (busy) one, a
	// change committed in between would never be seen.
	store.Changed(ctx)
	// Flushing at least as often as polling keeps an account's figures
	// from waiting on the writer longer than on the poll.
	db.usage = newUsageWriter(db.store, min(usageFlushInterval, opts.PollInterval))
	db.v = newVerifier(opts.Argon2)
	if db.pg != nil {
		db.stopRates = make(chan struct{})
		db.ratesDone = make(chan struct{})
		go db.shareRates()
	}
	return db, nil
}

// Default anonymous drop-box quota: an open upload folder with no limit let
// anyone fill the disk. A drop box takes documents, not backups; an
// operator who wants more says so.
const (
	defaultAnonQuotaBytes = 1 << 30
	defaultAnonQuotaFiles = 1000
)

// anonymousUser builds the anonymous account of Options for the data
// directory dataDir (absolute).
func anonymousUser(dataDir string, opts Options) (*memUser, error) {
	if opts.AnonymousHome == "" {
		return nil, invalidf("anonymous access needs a home directory")
	}
	home, err := filepath.Abs(opts.AnonymousHome)
	if err != nil {
		return nil, fmt.Errorf("anonymous home: %w", err)
	}
	// Anyone may read the anonymous home: it must not hold the database
	// and its password hashes.
	if within(dataDir, home) {
		return nil, invalidf("anonymous home %s: it contains the data directory %s", home, dataDir)
	}
	u := User{Name: AnonymousUser, Home: home, Perms: PresetReadOnly}
	if opts.AnonymousIncoming != "" {
		rel := filepath.Clean(opts.AnonymousIncoming)
		if !filepath.IsLocal(rel) || rel == "." {
			return nil, invalidf("anonymous incoming folder %q: must be a folder inside the anonymous home", opts.AnonymousIncoming)
		}
		if err := os.MkdirAll(filepath.Join(u.Home, rel), 0o755); err != nil {
			return nil, fmt.Errorf("anonymous incoming folder: %w", err)
		}
		u.PathPerms = []PathPerm{{Dir: path.Clean("/" + filepath.ToSlash(rel)), Perms: PresetUploadOnly}}
		u.QuotaBytes = anonLimit(opts.AnonymousQuotaBytes, defaultAnonQuotaBytes)
		u.QuotaFiles = anonLimit(opts.AnonymousQuotaFiles, defaultAnonQuotaFiles)
	}
	if fi, err := os.Stat(u.Home); err != nil || !fi.IsDir() {
		return nil, invalidf("anonymous home %s: not a directory", u.Home)
	}
	a := &account{}
	if opts.AnonymousIncoming != "" {
		// Usage lives in memory only: start from what the drop box holds,
		// so a restart does not hand out the quota again.
		b, f, err := walkUsage(filepath.Join(home, filepath.Clean(opts.AnonymousIncoming)))
		if err != nil {
			return nil, fmt.Errorf("anonymous incoming folder: %w", err)
		}
		a.usedBytes, a.usedFiles = b, f
		a.setLimits(u.QuotaBytes, u.QuotaFiles)
	}
	return &memUser{acct: a, user: u}, nil
}

// anonLimit is an anonymous quota option: 0 takes def, negative none.
func anonLimit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// walkUsage sums the regular files below dir (links not followed).
func walkUsage(dir string) (bytes, files int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			bytes += fi.Size()
			files++
		}
		return nil
	})
	return bytes, files, err
}

// Dir returns the absolute data directory.
func (db *DB) Dir() string { return db.dir }

// Store returns the store behind db. Its reads first write this process's
// unsaved usage deltas, so they see the usage the accounts hold.
func (db *DB) Store() Store { return flushingStore{db.store, db.usage} }

// flushingStore is a Store whose reads see the usage deltas still queued in
// the usage writer.
type flushingStore struct {
	Store
	w *usageWriter
}

func (s flushingStore) GetUser(ctx context.Context, name string) (StoredUser, error) {
	s.w.flush(ctx)
	return s.Store.GetUser(ctx, name)
}

func (s flushingStore) ListUsers(ctx context.Context) ([]StoredUser, error) {
	s.w.flush(ctx)
	return s.Store.ListUsers(ctx)
}

// Flush writes the usage deltas still held in memory to the store. The
// usage writer does it on its own within usageFlushInterval, and Close does
// it last; admin reads in this process do it first.
func (db *DB) Flush(ctx context.Context) error { return db.usage.flush(ctx) }

// Close writes the unsaved usage deltas and closes the database. Sessions
// must be closed first.
func (db *DB) Close() error {
	if db.stopRates != nil {
		close(db.stopRates)
		<-db.ratesDone
		db.stopRates = nil
	}
	return errors.Join(db.usage.close(), db.store.Close())
}

// Login implements Authenticator.
func (db *DB) Login(ctx context.Context, name, password string, info LoginInfo) (Session, error) {
	if db.anon != nil && isAnonymousName(name) {
		u := db.anon.user
		if err := checkAccount(u, info, time.Now()); err != nil {
			return nil, err
		}
		if !db.slots.acquire("\x00anonymous", u.MaxSessions) {
			return nil, ErrTooManySessions
		}
		return &anonSession{db: db}, nil
	}
	st, hash := db.fresh(ctx, CanonicalName(name))
	if st != nil {
		name = CanonicalName(name)
	}
	if st == nil {
		// Read the row. The version is taken first: a commit racing the
		// read can only make the row newer than its version says.
		ver := db.version(ctx)
		name = db.resolveName(ctx, name)
		su, err := db.store.GetUser(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		// An unknown user is checked against the dummy hash: same cost,
		// same answer as a wrong password.
		ok, err := db.v.Check(ctx, name, su.PasswordHash, password)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !ok || su.Name == "" {
			return nil, ErrBadCredentials
		}
		st = db.state(su, ver)
	} else {
		ok, err := db.v.Check(ctx, name, hash, password)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !ok {
			return nil, ErrBadCredentials
		}
	}
	st.mu.RLock()
	u := st.user
	st.mu.RUnlock()
	if err := checkAccount(u, info, time.Now()); err != nil {
		return nil, err
	}
	// In a cluster the limit counts the sessions of every node, in the
	// database, before db.mu: no login waits on another's round trip.
	var slot int64
	if db.pg != nil && (u.MaxSessions > 0 || u.RateUp > 0 || u.RateDown > 0) {
		var err error
		if slot, err = db.pg.acquireSession(ctx, u.Name, u.MaxSessions); err != nil {
			return nil, err
		}
	}
	// The slot is taken under db.mu, where poll prunes idle states, so a
	// state is never pruned between here and the session using it.
	db.mu.Lock()
	defer db.mu.Unlock()
	switch cur := db.states[u.Name]; {
	case cur == nil:
		db.states[u.Name] = st // pruned meanwhile, idle: it is still current
	case cur != st:
		// Pruned, and another login made a fresh state since: join it, so
		// all sessions share one quota account.
		st = cur
	}
	if db.pg == nil {
		if !db.slots.acquire(u.Name, u.MaxSessions) {
			return nil, ErrTooManySessions
		}
		return &dbSession{db: db, st: st, name: u.Name}, nil
	}
	// The local slot is still taken (without a limit): poll prunes by it.
	db.slots.acquire(u.Name, 0)
	return &dbSession{db: db, st: st, name: u.Name, slot: slot}, nil
}

// rowVersion identifies the state of the whole database when a row was
// read: the store's version (commits of other connections) and this
// process's own admin writes, which the store's version does not show.
type rowVersion struct {
	store  int64
	writes int64
	ok     bool // false: unknown, the row must be read again
}

// version returns the database's current rowVersion.
func (db *DB) version(ctx context.Context) rowVersion {
	vs, ok := db.store.(versioner)
	if !ok {
		return rowVersion{}
	}
	w := db.writes.Load()
	v, ok := vs.Version(ctx)
	return rowVersion{store: v, writes: w, ok: ok}
}

// versioner is a Store that can tell cheaply whether anything was
// committed since an earlier call (the SQLite store: PRAGMA data_version).
type versioner interface {
	// Version returns a number that changes with every commit of
	// another process; ok is false when it is unknown.
	Version(ctx context.Context) (v int64, ok bool)
}

// wrote records a write of this process's admin methods; call it after the
// write.
func (db *DB) wrote() { db.writes.Add(1) }

// fresh returns the live state of name and its password hash when its row
// is known to be what the store holds now (nothing was committed since it
// was read), so Login need not read it again; else nil. One PRAGMA
// data_version costs a fraction of reading and decoding the row, and a
// warm login is otherwise little more than that read.
func (db *DB) fresh(ctx context.Context, name string) (*userState, string) {
	db.mu.Lock()
	st := db.states[name]
	db.mu.Unlock()
	if st == nil {
		return nil, ""
	}
	st.mu.RLock()
	rv, hash, deleted := st.row, st.hash, st.deleted
	st.mu.RUnlock()
	if !rv.ok || deleted || hash == "" {
		return nil, ""
	}
	if now := db.version(ctx); !now.ok || now != rv {
		return nil, ""
	}
	return st, hash
}

// state returns the live state of a user just read from the store (at
// version ver), creating it or refreshing it with the row.
func (db *DB) state(su StoredUser, ver rowVersion) *userState {
	db.mu.Lock()
	st := db.states[su.Name]
	if st == nil {
		st = &userState{acct: db.newAccount(su)}
		st.user, st.hash, st.row = cloneUser(su.User), su.PasswordHash, ver
		db.states[su.Name] = st
		db.mu.Unlock()
		return st
	}
	db.mu.Unlock()
	st.refresh(su, ver)
	return st
}

// liveAccount is a user's quota account as DB keeps it: the Quota its
// sessions share and what poll needs to keep it current.
type liveAccount interface {
	Quota
	setLimits(bytes, files int64)
	committed() (bytes, files int64)
	quiet() (gen uint64, ok bool)
	load(gen uint64, bytes, files int64) bool
}

// newAccount makes the quota account of a user just read: on a cluster's
// database the row itself (clusterAccount), else an in-process account
// whose deltas the usage writer stores.
func (db *DB) newAccount(su StoredUser) liveAccount {
	if db.pg != nil {
		return newClusterAccount(db.pg, su)
	}
	a := &account{}
	name := su.Name
	a.sink = func(a *account) { db.usage.queue(name, a) }
	a.usedBytes, a.usedFiles = su.UsedBytes, su.UsedFiles
	a.setLimits(su.QuotaBytes, su.QuotaFiles)
	return a
}

// refresh takes in the settings of a row read by Login. Usage is left to
// poll, which alone can order its read against in-flight deltas: a change
// of usage by another process also changes the store, so the next poll
// reloads it.
func (st *userState) refresh(su StoredUser, ver rowVersion) {
	st.mu.Lock()
	st.user, st.hash, st.deleted, st.row = cloneUser(su.User), su.PasswordHash, false, ver
	st.mu.Unlock()
	st.acct.setLimits(su.QuotaBytes, su.QuotaFiles)
}

// poll reloads the live users if another process changed the store, at most
// once per PollInterval.
func (db *DB) poll(ctx context.Context) {
	now := time.Now().UnixNano()
	if now-db.lastPoll.Load() < int64(db.opts.PollInterval) {
		return
	}
	if !db.pollMu.TryLock() {
		return // another session is polling; its result serves us too
	}
	defer db.pollMu.Unlock()
	changed, err := db.store.Changed(ctx)
	if errors.Is(err, ErrBusy) {
		return // a write is in progress: retry on the next call
	}
	db.lastPoll.Store(time.Now().UnixNano())
	if err != nil {
		return // keep the last known settings; the next poll retries
	}
	db.mu.Lock()
	var reload []*userState
	var names []string
	for name, st := range db.states {
		if _, quiet := st.acct.quiet(); quiet && db.slots.count(name) == 0 {
			// No session and nothing in flight: the store holds all there
			// is to know, and the next Login starts afresh from it.
			delete(db.states, name)
			continue
		}
		st.mu.RLock()
		need := st.needUsage
		st.mu.RUnlock()
		if changed || need {
			reload = append(reload, st)
			names = append(names, name)
		}
	}
	db.mu.Unlock()
	for i, st := range reload {
		db.reload(ctx, names[i], st)
	}
}

// reload reads one live user's row again.
func (db *DB) reload(ctx context.Context, name string, st *userState) {
	gen, _ := st.acct.quiet()
	su, err := db.store.GetUser(ctx, name)
	if errors.Is(err, ErrNotFound) {
		// A deleted user's open sessions may do nothing more.
		st.mu.Lock()
		st.deleted = true
		st.mu.Unlock()
		db.v.forget(name)
		return
	}
	if err != nil {
		return
	}
	st.refresh(su, rowVersion{}) // version unknown: the next Login reads the row
	// gen was taken before the read: load refuses if any delta was applied
	// since, because the row might predate it.
	loaded := st.acct.load(gen, su.UsedBytes, su.UsedFiles)
	st.mu.Lock()
	st.needUsage = !loaded
	st.mu.Unlock()
}

// liveState returns the live state of name, if any session has used it.
func (db *DB) liveState(name string) *userState {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.states[name]
}

type dbSession struct {
	db    *DB
	st    *userState
	name  string
	slot  int64 // the cluster-wide session slot, 0 for none
	close sync.Once
}

// User returns the account as of at most PollInterval ago. A user deleted
// meanwhile comes back Disabled with no permissions, so the engine refuses
// every further operation.
func (s *dbSession) User() User {
	s.db.poll(context.Background())
	s.st.mu.RLock()
	u, deleted := s.st.user, s.st.deleted
	s.st.mu.RUnlock()
	u.UsedBytes, u.UsedFiles = s.st.acct.committed()
	if deleted {
		u.Disabled, u.Perms, u.PathPerms = true, PermNone, nil
	}
	return u
}

func (s *dbSession) Quota() Quota { return s.st.acct }

func (s *dbSession) Limits() (up, down *rate.Limiter) { return s.st.lim.get(s.User()) }

func (s *dbSession) Close() error {
	s.close.Do(func() {
		s.db.slots.release(s.name)
		if s.slot != 0 {
			s.db.pg.releaseSession(s.slot)
		}
	})
	return nil
}

type anonSession struct {
	db    *DB
	close sync.Once
}

func (s *anonSession) User() User   { return s.db.anon.user }
func (s *anonSession) Quota() Quota { return s.db.anon.acct }
func (s *anonSession) Limits() (up, down *rate.Limiter) {
	return s.db.anon.lim.get(s.User())
}
func (s *anonSession) Close() error {
	s.close.Do(func() { s.db.slots.release("\x00anonymous") })
	return nil
}

// ValidName reports whether name may name a new user: 1 to 64 of
// [A-Za-z0-9._-], not starting with '.' or '-', so it is always a safe path
// element, and not one of the names anonymous logins use ("anonymous",
// "ftp", in any case): an account of that name could never be reached, or
// would shadow anonymous access. Names are case-insensitive: see
// CanonicalName.
func ValidName(name string) error {
	if len(name) < 1 || len(name) > 64 {
		return invalidf("user name %q: must be 1 to 64 characters", name)
	}
	if name[0] == '.' || name[0] == '-' {
		return invalidf("user name %q: must not start with '.' or '-'", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalidf("user name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	if isAnonymousName(name) {
		return invalidf("user name %q: reserved for anonymous logins", name)
	}
	return nil
}

// CanonicalName is the form a user name is stored and looked up in: lower
// case, so ALICE and alice are one account (as with Unix logins and every
// FTP server that maps to them). Names are ASCII (ValidName).
func CanonicalName(name string) string { return strings.ToLower(name) }

// resolveName returns the stored name for a name as given: its canonical
// form, or, for an account created before names were folded (ALICE,
// stored as typed), the name exactly as given when only that exists.
func (db *DB) resolveName(ctx context.Context, name string) string {
	c := CanonicalName(name)
	if c == name {
		return c
	}
	if _, err := db.store.GetUser(ctx, c); errors.Is(err, ErrNotFound) {
		if _, err := db.store.GetUser(ctx, name); err == nil {
			return name
		}
	}
	return c
}

// nameTaken reports whether a user whose name differs from name only in
// case exists (accounts created before names were folded).
func (db *DB) nameTaken(ctx context.Context, name string) (bool, error) {
	sus, err := db.store.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	for _, su := range sus {
		if strings.EqualFold(su.Name, name) {
			return true, nil
		}
	}
	return false, nil
}

// within reports whether p is dir or below it (both clean and absolute).
func within(p, dir string) bool {
	return p == dir || dir == string(filepath.Separator) || strings.HasPrefix(p, dir+string(filepath.Separator))
}
