package ftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
)

// The commit rule: how a change to a file is made and counted, the same for
// every front end of the process (FTP sessions, the HTTP side of `wharf
// share`).
//
// Usage must equal what is stored after any interleaving of sessions. The
// bytes of an upload are counted as they reach its temporary file (Reserve
// and Commit, so concurrent writers never together pass the limit); what
// a commit, a delete or a rename does to the files already there is counted
// from what it really did, which only a state that nobody else changes
// meanwhile can tell. So every change of a name (an upload's rename into
// place, DELE, RNTO) is made under that name's
// lock, with the name looked at under the lock, and counted before the
// lock is released. The locks are process-wide, keyed by the folder on
// disk, since two engines on one folder (share's FTP and HTTP sides) must
// agree.
//
// Writes in place (REST at the end, APPE) run for a whole transfer, too long to
// hold a lock, and they change the file every other rule looks at; so a
// name has either uploads through temporary files in flight (any number:
// the last to commit wins) or one writer in place, never both: the other
// is refused with ErrFileBusy (450) before any byte moves. DELE and RNTO
// of a file being written in place are refused the same way.
//
// An upload replacing a file may use the original's room (Upload.Credit,
// an accounts.Quota.Allowance of the original's size for that upload
// only), so a user near the limit can still replace a big file; the
// original stays counted until the commit takes it away. One upload per
// name holds that credit at a time. Whatever takes the original away
// first (another commit over it, DELE, RNTO) revokes it, and the holder's
// commit is then checked against the quota like any new file.

// Permissions are decided by the operation that commits: an upload that may
// not replace is committed with the storage's own refusal of an existing
// name (RENAME_NOREPLACE or link+unlink on a local disk, If-None-Match: *
// on an object store), never with a look and then a replacing commit. A
// rename on a storage without an atomic refusal (vfs.NoReplaceRenamer) is
// refused by the look under the name's lock, which covers every change
// this process makes; the storage's own rule covers uploads.

// ErrFileBusy refuses a change to a file another session is writing in
// place.
var ErrFileBusy = errors.New("file busy: another session is writing it")

// ErrChangedMeanwhile refuses an upload whose file another session changed
// between the command and the data (450: asked again, it can proceed).
var ErrChangedMeanwhile = errors.New("file changed meanwhile: try again")

// ErrNotPlainFile refuses an upload whose target has become a folder or
// another non-regular file.
var ErrNotPlainFile = errors.New("not a plain file")

// nameState is what the process knows of one name on disk.
type nameState struct {
	refs int // guarded by ledger.mu

	mu      sync.Mutex
	uploads int     // guarded by mu; uploads through temporary files in flight
	inPlace bool    // guarded by mu; a writer in place holds the name
	credit  *credit // guarded by mu
}

// credit is the original file whose room an upload replacing it may use.
type credit struct {
	orig   fs.FileInfo
	holder *Upload
}

// revoke ends the credit: its original went away by another hand. The
// caller holds the name's lock.
func (st *nameState) revoke() {
	c := st.credit
	st.credit = nil
	c.holder.revoked = true
	c.holder.dropAllowance()
}

type ledgerT struct {
	mu    sync.Mutex
	names map[string]*nameState // guarded by mu
	live  map[string]struct{}   // guarded by mu; temporary names of uploads in flight
	rep   repairState           // guarded by mu; see repair.go
}

// ledger is process-wide: see above.
var ledger = &ledgerT{names: make(map[string]*nameState), live: make(map[string]struct{})}

// nameKey names name of fsys for the whole process.
func nameKey(fsys vfs.Storage, name string) string {
	if d, ok := fsys.(vfs.Identifier); ok {
		return d.Dir() + "//" + name
	}
	return fmt.Sprintf("%T@%p/%s", fsys, fsys, name)
}

func (l *ledgerT) get(key string) *nameState {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.admit(key)
	st := l.names[key]
	if st == nil {
		st = &nameState{}
		l.names[key] = st
	}
	st.refs++
	return st
}

func (l *ledgerT) put(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.names[key]; st != nil {
		if st.refs--; st.refs <= 0 {
			delete(l.names, key)
		}
	}
}

// lockNames locks the states of names (in a fixed order, so two callers
// cannot deadlock) and returns them in the order given, with the unlock.
func lockNames(fsys vfs.Storage, names ...string) ([]*nameState, func()) {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = nameKey(fsys, n)
	}
	order := slices.Clone(keys)
	slices.Sort(order)
	order = slices.Compact(order)
	byKey := make(map[string]*nameState, len(order))
	for _, k := range order {
		st := ledger.get(k)
		st.mu.Lock()
		byKey[k] = st
	}
	sts := make([]*nameState, len(keys))
	for i, k := range keys {
		sts[i] = byKey[k]
	}
	return sts, func() {
		for i := len(order) - 1; i >= 0; i-- {
			byKey[order[i]].mu.Unlock()
			ledger.put(order[i])
		}
	}
}

// ownTemp registers a temporary file name (a base name: its 64 random
// bits make it unique) as an upload of this process until release is
// called. Register before creating the file and release after it is
// renamed or removed, so a recovery walk that sees the file also sees it
// owned.
func ownTemp(name string) (release func()) {
	ledger.mu.Lock()
	ledger.live[name] = struct{}{}
	ledger.mu.Unlock()
	return sync.OnceFunc(func() {
		ledger.mu.Lock()
		delete(ledger.live, name)
		ledger.mu.Unlock()
	})
}

func tempOwned(name string) bool {
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	_, ok := ledger.live[name]
	return ok
}

// IsTempName reports whether a file name is an upload in progress: such
// names are never served, listed or accepted from a client.
func IsTempName(name string) bool { return isTempName(name) }

// clusterLock extends the locks of keys, held in the process already, to
// every process sharing the storage, when q's owner has such (an
// accounts.NameLocker: a cluster's nodes on one folder). Process locks come
// first, so a process sends one request per name at a time.
func clusterLock(ctx context.Context, q accounts.Quota, keys ...string) (func(), error) {
	nl, ok := q.(accounts.NameLocker)
	if !ok {
		return func() {}, nil
	}
	unlock, err := nl.LockNames(ctx, keys...)
	if errors.Is(err, accounts.ErrWrittenInPlace) {
		return nil, ErrFileBusy // another node writes it in place
	}
	return unlock, err
}

// clusterRevoke ends, beyond the process, any upload's use of the room of
// the file at key, before the caller (holding key's clusterLock) counts
// that file as gone; a process of its own needs nothing (nameState.taken
// revokes its credits).
func clusterRevoke(ctx context.Context, q accounts.Quota, key string) error {
	if nl, ok := q.(accounts.NameLocker); ok {
		return nl.Revoke(ctx, key)
	}
	return nil
}

// ErrNotRecorded marks a change made on disk whose usage could not be
// recorded: the change stands; the caller logs it and repairs the usage
// (RepairUsage).
var ErrNotRecorded = errors.New("usage not recorded")

// ErrCommitted marks an error of Upload.Commit that came after the file
// was put in place (ErrNotRecorded): the upload stands and succeeded.
var ErrCommitted = errors.New("upload in place")

// record applies a change already made on disk; q may be nil (no quota).
func record(ctx context.Context, q accounts.Quota, bytes, files int64) error {
	if q == nil || bytes == 0 && files == 0 {
		return nil
	}
	if err := q.Record(context.WithoutCancel(ctx), bytes, files); err != nil {
		return fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	return nil
}

// taken is called when cur, the file at st's name, is taken away by
// holder (nil: not by an upload): it returns the bytes freed, and revokes
// a credit on cur that another upload holds. st.mu must be held.
func (st *nameState) taken(cur fs.FileInfo, by *Upload) int64 {
	if cur == nil || !cur.Mode().IsRegular() {
		return 0
	}
	if c := st.credit; c != nil && sameFile(c.orig, cur) {
		if c.holder == by {
			st.credit = nil
		} else {
			st.revoke()
		}
	}
	return cur.Size()
}

// sameFile reports whether a and b describe the same file: the same inode
// where the storage has them, else the same name, size and time (an
// object store's objects have no other identity the engine can see).
func sameFile(a, b fs.FileInfo) bool {
	if a.Sys() != nil || b.Sys() != nil {
		return os.SameFile(a, b)
	}
	return a.Name() == b.Name() && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// StatL looks at name itself, as every change of a name does: a symbolic
// link as the link where the storage has links (vfs.Lstater).
func StatL(ctx context.Context, fsys vfs.Storage, name string) (fs.FileInfo, error) {
	return statL(ctx, fsys, name)
}

func statL(ctx context.Context, fsys vfs.Storage, name string) (fs.FileInfo, error) {
	if l, ok := fsys.(vfs.Lstater); ok {
		return l.Lstat(ctx, name)
	}
	return fsys.Stat(ctx, name)
}

// lstat returns the file at name, nil if there is none.
func lstat(ctx context.Context, fsys vfs.Storage, name string) (fs.FileInfo, error) {
	fi, err := statL(ctx, fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return fi, err
}

// Upload is one upload of a whole file (a vfs.Upload committed into place),
// under the commit rule. Its methods are called by one goroutine.
type Upload struct {
	fsys       vfs.Storage
	q          accounts.Quota // nil: no quota
	name       string
	tmp        string     // the base name a staging backend writes under (recover.go)
	h          vfs.Upload // nil before Create
	key        string
	st         *nameState
	mayCreate  bool
	mayReplace bool
	existed    bool // the target existed at BeginUpload
	slot       bool // one file of the file quota is held for the temporary file
	release    func()
	done       bool
	wctx       context.Context // the writer given the credit's allowance; nil: none
	// only, for a rewrite (BeginRewrite) by a user who may not replace
	// files, is the one file its commit may replace.
	only    fs.FileInfo
	rewrite bool
	keep    int64 // a rewrite's bytes kept from the file
	// revoked is set (under st.mu) when the original whose room this
	// upload was allowed to use went away by another hand: the upload is
	// no replacement any more, and its commit looks at the quota again.
	revoked bool
}

// dropAllowance ends the upload's allowance, if any.
func (u *Upload) dropAllowance() {
	if u.wctx != nil {
		// Dropping an allowance fails only without a writer mark, and
		// wctx has one (Credit).
		if nl, ok := u.q.(accounts.NameLocker); ok {
			nl.Credit(u.wctx, u.key, 0)
		} else {
			u.q.Allowance(u.wctx, 0)
		}
		u.wctx = nil
	}
}

// BeginUpload starts an upload to name. mayCreate and mayReplace say
// whether its user may create a new file there and replace an existing
// one; the commit decides by them, on what the name holds then. A target that is
// absent now takes one file of the file quota at once (ErrQuotaExceeded
// before any byte moves). It fails with ErrFileBusy while a writer in
// place holds the name.
func BeginUpload(ctx context.Context, fsys vfs.Storage, q accounts.Quota, name string, mayCreate, mayReplace bool) (*Upload, error) {
	u := &Upload{fsys: fsys, q: q, name: name, mayCreate: mayCreate, mayReplace: mayReplace, key: nameKey(fsys, name)}
	u.st = ledger.get(u.key)
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	fail := func(err error) (*Upload, error) {
		ledger.put(u.key)
		return nil, err
	}
	if u.st.inPlace {
		return fail(ErrFileBusy)
	}
	unlockC, err := clusterLock(ctx, q, u.key)
	if err != nil {
		return fail(err)
	}
	defer unlockC()
	cur, err := lstat(ctx, fsys, name)
	if err != nil {
		return fail(err)
	}
	switch {
	case cur != nil && !cur.Mode().IsRegular():
		return fail(ErrNotPlainFile)
	case cur != nil && !mayReplace:
		return fail(fs.ErrExist)
	case cur == nil && !mayCreate:
		return fail(fs.ErrPermission)
	}
	u.existed = cur != nil
	if cur == nil && q != nil {
		if err := q.Adjust(ctx, 0, 1); err != nil {
			return fail(err)
		}
		u.slot = true
	}
	u.st.uploads++
	u.tmp = tempName(path.Base(name), u.existed)
	u.release = ownTemp(u.tmp)
	return u, nil
}

// BeginRewrite starts an upload that makes a new version of the file at
// name from its first keep bytes and what follows them (REST below the
// end): the storage copies them at Create (copy_file_range on a local
// disk, UploadPartCopy on an object store), and Keep charges them.
// mayReplace says whether the user may replace any file there; otherwise
// the commit replaces only the file Create looked at (fs.ErrExist for any
// other). If the file goes away meanwhile the commit refuses
// (fs.ErrPermission): there is nothing left to rewrite.
func BeginRewrite(ctx context.Context, fsys vfs.Storage, q accounts.Quota, name string, keep int64, mayReplace bool) (*Upload, error) {
	u, err := BeginUpload(ctx, fsys, q, name, false, true)
	if err != nil {
		return nil, err
	}
	u.rewrite, u.keep, u.mayReplace = true, keep, mayReplace
	return u, nil
}

// Keep charges the kept bytes of a rewrite to the quota like received
// bytes (ctx as for xfer.Receive), and returns how many it counted.
func (u *Upload) Keep(ctx context.Context) (int64, error) {
	if !u.rewrite || u.h == nil {
		return 0, errors.New("ftp: Keep of an upload that is no created rewrite")
	}
	if u.q == nil {
		return u.keep, nil
	}
	var n int64
	for n < u.keep {
		g, err := u.q.Reserve(ctx, u.keep-n)
		if err != nil && !errors.Is(err, accounts.ErrQuotaExceeded) {
			return n, fmt.Errorf("reserve quota: %w", err)
		}
		if g <= 0 {
			return n, accounts.ErrQuotaExceeded
		}
		use := min(g, u.keep-n)
		if err := u.q.Commit(context.WithoutCancel(ctx), g, use); err != nil {
			return n, fmt.Errorf("commit quota: %w", err)
		}
		n += use
	}
	return n, nil
}

// TempPath returns the path of the upload's temporary file, the label of
// its writer (accounts.WithUpload).
func (u *Upload) TempPath() string { return path.Join(path.Dir(u.name), u.tmp) }

// Existed reports whether the target existed when the upload began.
func (u *Upload) Existed() bool { return u.existed }

// Create starts the upload on the storage; write to what it returns, then
// Commit or Discard (never the handle's own Commit or Abandon). durable
// asks the commit to make the file durable before it returns.
func (u *Upload) Create(ctx context.Context, durable bool) (vfs.Upload, error) {
	o := vfs.CreateOptions{NoReplace: true, Durable: durable, TempName: u.tmp}
	if u.rewrite {
		// The file whose first bytes are kept is looked at before they
		// are copied: a file that replaced it after the look is then no
		// longer the one the commit may replace.
		fi, err := statL(ctx, u.fsys, u.name)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, ErrNotPlainFile
		}
		switch {
		case fi.Size() < u.keep:
			// Cut meanwhile below the offset: the REST is invalid now.
			return nil, &fs.PathError{Op: "rewrite", Path: u.name, Err: fs.ErrInvalid}
		case fi.Size() == u.keep:
			// Another upload rewrote it meanwhile to just the kept
			// bytes (two REST 1 + STOR at once): the offset is its end
			// now, a resume that writes in place, which the name's
			// rule does not let this upload turn into. Asked again, it
			// is one.
			return nil, fmt.Errorf("%w: %s is %d bytes now", ErrChangedMeanwhile, u.name, fi.Size())
		}
		if !u.mayReplace {
			u.only = fi
		}
		o.Resume, o.Offset = true, u.keep
	}
	h, err := u.fsys.Create(ctx, u.name, o)
	if err != nil {
		return nil, err
	}
	u.h = h
	return h, nil
}

// Credit lets the upload use the room of the file it is to replace, if no
// other upload holds it already (see above): ctx must be the context the
// upload's bytes are reserved with, marked by accounts.WithWriter. Call it
// once data flows.
func (u *Upload) Credit(ctx context.Context) error {
	if !u.mayReplace && !u.rewrite || !u.existed || u.q == nil {
		return nil
	}
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	if u.st.credit != nil {
		return nil
	}
	cur, err := lstat(ctx, u.fsys, u.name)
	if err != nil || cur == nil || !cur.Mode().IsRegular() {
		return err
	}
	if nl, ok := u.q.(accounts.NameLocker); ok {
		// Other nodes' uploads may replace the same file: the database
		// gives its room to one of them at a time.
		got, err := nl.Credit(ctx, u.key, cur.Size())
		if err != nil || !got {
			return err // no credit: checked as a new file would be
		}
	} else if err := u.q.Allowance(ctx, cur.Size()); err != nil {
		return err
	}
	u.wctx = ctx
	u.st.credit = &credit{orig: cur, holder: u}
	return nil
}

// end releases the upload's hold on its name; st.mu must be held.
func (u *Upload) end() {
	u.done = true
	u.st.uploads--
	if c := u.st.credit; c != nil && c.holder == u {
		u.st.credit = nil
	}
	u.dropAllowance()
}

// Commit puts the upload (of n bytes, all counted) in place and settles
// usage. A target that became a folder (ErrNotPlainFile), or a
// file that the upload may not replace (fs.ErrExist), or a file quota
// that has no room for a target that vanished meanwhile, discards the
// upload instead, original untouched. It reports whether a file was
// replaced.
func (u *Upload) Commit(ctx context.Context, n int64) (replaced bool, err error) {
	ctx = context.WithoutCancel(ctx)
	defer ledger.put(u.key)
	defer u.release()
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	defer u.end()
	unlockC, err := clusterLock(ctx, u.q, u.key)
	if err != nil {
		return false, errors.Join(err, u.discard(ctx, n))
	}
	defer unlockC()
	for range 3 {
		cur, err := lstat(ctx, u.fsys, u.name)
		if err != nil {
			return false, errors.Join(err, u.discard(ctx, n))
		}
		switch {
		case cur != nil && !cur.Mode().IsRegular():
			return false, errors.Join(ErrNotPlainFile, u.discard(ctx, n))
		case cur != nil && !u.mayReplace && (u.only == nil || !sameFile(cur, u.only)):
			return false, errors.Join(fs.ErrExist, u.discard(ctx, n))
		case cur == nil && !u.mayCreate:
			// The file it was to replace went away, and this user may
			// not create one.
			return false, errors.Join(fs.ErrPermission, u.discard(ctx, n))
		case u.revoked && u.q != nil && overQuota(ctx, u.q):
			// The original whose room it used went away by another hand
			// (and, renamed, may live on): refused like any upload past
			// the quota.
			return false, errors.Join(accounts.ErrQuotaExceeded, u.discard(ctx, n))
		case cur == nil && !u.slot && u.q != nil:
			// The original went away meanwhile: this is a new file now,
			// and the file quota is asked before the rename, not after.
			if err := u.q.Adjust(ctx, 0, 1); err != nil {
				return false, errors.Join(err, u.discard(ctx, n))
			}
			u.slot = true
		}
		if u.h == nil {
			return false, errors.Join(errors.New("commit of an upload never created"), u.discard(ctx, n))
		}
		if cur == nil {
			// Created with NoReplace: the storage refuses a name another
			// process took since the look, and the upload stays pending.
			_, err = u.h.Commit(ctx)
			if errors.Is(err, fs.ErrExist) {
				continue // look again
			}
		} else if rc, ok := u.h.(vfs.ReplaceCommitter); ok {
			_, err = rc.CommitReplace(ctx)
		} else {
			err = fmt.Errorf("%T cannot replace a file: %w", u.h, errors.ErrUnsupported)
		}
		if err != nil {
			return false, errors.Join(fmt.Errorf("commit upload: %w", err), u.discard(ctx, n))
		}
		var files int64
		if cur != nil && u.slot {
			files = -1 // the replaced file's place is the upload's
		}
		if cur != nil && cur.Mode().IsRegular() {
			if err := clusterRevoke(ctx, u.q, u.key); err != nil {
				return cur != nil, errors.Join(ErrNotRecorded, err)
			}
		}
		freed := u.st.taken(cur, u)
		if err = record(ctx, u.q, -freed, files); err != nil {
			err = fmt.Errorf("%w: %w", ErrCommitted, err)
		}
		u.dropAllowance() // only once the original is no longer counted
		return cur != nil, err
	}
	return false, errors.Join(fs.ErrExist, u.discard(ctx, n))
}

// Discard abandons the upload (of n bytes, all counted) and gives back its
// usage; the original, if any, stays and is counted again if the
// upload had freed it.
func (u *Upload) Discard(ctx context.Context, n int64) error {
	ctx = context.WithoutCancel(ctx)
	defer ledger.put(u.key)
	defer u.release()
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	defer u.end()
	return u.discard(ctx, n)
}

// discard is Discard with st.mu held.
func (u *Upload) discard(ctx context.Context, n int64) error {
	if u.h != nil {
		if err := u.h.Abandon(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Possibly still stored, so still counted.
			return fmt.Errorf("abandon upload: %w", err)
		}
	}
	var files int64
	if u.slot {
		files = -1
		u.slot = false
	}
	return record(ctx, u.q, -n, files)
}

// overQuota reports whether usage is past the byte quota.
func overQuota(ctx context.Context, q accounts.Quota) bool {
	u, err := q.Usage(ctx)
	return err == nil && u.QuotaBytes > 0 && u.UsedBytes > u.QuotaBytes
}

// InPlace is a resume at the end of a file (REST at its size, APPE)
// holding its name: on a local disk it writes in place, on an object store
// it builds a new object from the kept bytes; either way it is the only
// writer of the name meanwhile.
type InPlace struct {
	fsys vfs.Storage
	q    accounts.Quota
	name string
	key  string
	st   *nameState
	once sync.Once

	off, size int64      // set by Create: where the new bytes go (the end), the file's size before
	h         vfs.Upload // nil before Create
	release   func()     // ends the hold beyond the process (accounts.NameLocker); nil: none
}

// BeginInPlace takes name for a write in place; ErrFileBusy while anything
// else writes it.
func BeginInPlace(fsys vfs.Storage, q accounts.Quota, name string) (*InPlace, error) {
	w := &InPlace{fsys: fsys, q: q, name: name, key: nameKey(fsys, name)}
	w.st = ledger.get(w.key)
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	if w.st.inPlace || w.st.uploads > 0 {
		ledger.put(w.key)
		return nil, ErrFileBusy
	}
	if nl, ok := q.(accounts.NameLocker); ok {
		// Other nodes' uploads, DELE and RNTO of the name are refused
		// while this write runs (their commit-rule locks see it).
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		release, err := nl.HoldInPlace(ctx, w.key)
		cancel()
		if err != nil {
			ledger.put(w.key)
			if errors.Is(err, accounts.ErrWrittenInPlace) {
				return nil, ErrFileBusy
			}
			return nil, err
		}
		w.release = release
	}
	w.st.inPlace = true
	return w, nil
}

// Create starts the resume at size, the end of the file (looked at after
// BeginInPlace). A file that has grown since is refused (fs.ErrInvalid is
// the storage's answer to an offset past the end; bigger is a REST below
// the end, which never writes in place): nothing of the file is cut.
func (w *InPlace) Create(ctx context.Context, size int64, durable bool) (vfs.Upload, error) {
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	h, err := w.fsys.Create(ctx, w.name, vfs.CreateOptions{Resume: true, Offset: size, Durable: durable})
	if err != nil {
		return nil, err
	}
	w.h, w.off, w.size = h, size, size
	return h, nil
}

// Commit puts what the resume wrote (n bytes, all counted) in place: on a
// broken transfer too, since the file was partial already. If the commit
// fails, usage is set back to what the storage holds then.
func (w *InPlace) Commit(ctx context.Context, n int64) error {
	ctx = context.WithoutCancel(ctx)
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	_, err := w.h.Commit(ctx)
	if err == nil {
		return nil
	}
	w.h.Abandon(ctx)
	// Counted: the kept bytes and n more. Stored: whatever the storage
	// says now (an object store keeps the old object, a local file what
	// reached it), or the old file when even that cannot be asked.
	have := w.size
	if fi, serr := w.fsys.Stat(ctx, w.name); serr == nil {
		have = fi.Size()
	}
	return errors.Join(err, record(ctx, w.q, have-(w.off+n), 0))
}

// End releases the name.
func (w *InPlace) End() {
	w.once.Do(func() {
		w.st.mu.Lock()
		w.st.inPlace = false
		w.st.mu.Unlock()
		if w.release != nil {
			w.release()
		}
		ledger.put(w.key)
	})
}

// RemoveFile removes the file name (not a folder) and counts it.
func RemoveFile(ctx context.Context, fsys vfs.Storage, q accounts.Quota, name string) (fs.FileInfo, error) {
	sts, unlock := lockNames(fsys, name)
	defer unlock()
	st := sts[0]
	if st.inPlace {
		return nil, ErrFileBusy
	}
	unlockC, err := clusterLock(ctx, q, nameKey(fsys, name))
	if err != nil {
		return nil, err
	}
	defer unlockC()
	cur, err := statL(ctx, fsys, name)
	if err != nil {
		return nil, err
	}
	if cur.IsDir() {
		return nil, vfs.ErrIsDir
	}
	if err := fsys.Remove(ctx, name); err != nil {
		return nil, err
	}
	var files int64
	if cur.Mode().IsRegular() {
		files = -1
	}
	if err := clusterRevoke(ctx, q, nameKey(fsys, name)); err != nil {
		return cur, errors.Join(ErrNotRecorded, err)
	}
	return cur, record(ctx, q, -st.taken(cur, nil), files)
}

// RenameFile renames from to to and counts a file it replaced. mayReplace
// says whether the user may replace an existing to: if not, the rename
// refuses atomically (fs.ErrExist).
func RenameFile(ctx context.Context, fsys vfs.Storage, q accounts.Quota, from, to string, mayReplace bool) error {
	sts, unlock := lockNames(fsys, from, to)
	defer unlock()
	fst, tst := sts[0], sts[1]
	if fst.inPlace || tst.inPlace {
		return ErrFileBusy
	}
	unlockC, err := clusterLock(ctx, q, nameKey(fsys, from), nameKey(fsys, to))
	if err != nil {
		return err
	}
	defer unlockC()
	moved, err := statL(ctx, fsys, from)
	if err != nil {
		return err
	}
	if from == to {
		return nil
	}
	cur, err := lstat(ctx, fsys, to)
	if err != nil {
		return err
	}
	if cur != nil && cur.IsDir() {
		return vfs.ErrIsDir
	}
	if cur != nil && !mayReplace {
		return fs.ErrExist
	}
	if cur == nil {
		err = renameNoReplace(ctx, fsys, from, to)
		if errors.Is(err, errors.ErrUnsupported) {
			// No atomic refusal on this storage: the look above, under
			// the name's lock, refused for this process (see above).
			err = fsys.Rename(ctx, from, to)
		}
	} else {
		err = fsys.Rename(ctx, from, to)
	}
	if err != nil {
		return err
	}
	var bytes, files int64
	if cur != nil && cur.Mode().IsRegular() {
		if err := clusterRevoke(ctx, q, nameKey(fsys, to)); err != nil {
			return errors.Join(ErrNotRecorded, err)
		}
		bytes, files = -tst.taken(cur, nil), -1
	}
	if moved.Mode().IsRegular() {
		// An upload elsewhere replacing the moved file loses its room:
		// the file lives on under another name, still counted.
		if err := clusterRevoke(ctx, q, nameKey(fsys, from)); err != nil {
			return errors.Join(ErrNotRecorded, err)
		}
	}
	if c := fst.credit; c != nil && sameFile(c.orig, moved) {
		// The original an upload was to replace lives on under another
		// name: the upload no longer replaces it.
		fst.revoke()
	}
	return record(ctx, q, bytes, files)
}
