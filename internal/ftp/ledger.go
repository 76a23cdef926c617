package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"syscall"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/xfer"
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
// not replace is renamed with RENAME_NOREPLACE (or link+unlink where the
// filesystem has no such rename), never with a rename that replaces.

// ErrFileBusy refuses a change to a file another session is writing in
// place.
var ErrFileBusy = errors.New("file busy: another session is writing it")

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
}

// ledger is process-wide: see above.
var ledger = &ledgerT{names: make(map[string]*nameState), live: make(map[string]struct{})}

// nameKey names name of fsys for the whole process.
func nameKey(fsys vfs.FS, name string) string {
	if d, ok := fsys.(interface{ Dir() string }); ok {
		return path.Join(d.Dir(), name)
	}
	return fmt.Sprintf("%T@%p/%s", fsys, fsys, name)
}

func (l *ledgerT) get(key string) *nameState {
	l.mu.Lock()
	defer l.mu.Unlock()
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
func lockNames(fsys vfs.FS, names ...string) ([]*nameState, func()) {
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

// ErrNotRecorded marks a change made on disk whose usage could not be
// recorded: the change stands, and the failure must be logged.
var ErrNotRecorded = errors.New("usage not recorded")

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
	if c := st.credit; c != nil && os.SameFile(c.orig, cur) {
		if c.holder == by {
			st.credit = nil
		} else {
			st.revoke()
		}
	}
	return cur.Size()
}

// lstat returns the file at name, nil if there is none.
func lstat(ctx context.Context, fsys vfs.FS, name string) (fs.FileInfo, error) {
	fi, err := fsys.Lstat(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return fi, err
}

// Upload is one upload through a temporary file beside its target, under
// the commit rule. Its methods are called by one goroutine.
type Upload struct {
	fsys       vfs.FS
	q          accounts.Quota // nil: no quota
	name, tmp  string
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
	// revoked is set (under st.mu) when the original whose room this
	// upload was allowed to use went away by another hand: the upload is
	// no replacement any more, and its commit looks at the quota again.
	revoked bool
}

// dropAllowance ends the upload's allowance, if any.
func (u *Upload) dropAllowance() {
	if u.wctx != nil {
		u.q.Allowance(u.wctx, 0)
		u.wctx = nil
	}
}

// BeginUpload starts an upload to name. mayCreate and mayReplace say
// whether its user may create a new file there and replace an existing
// one; the commit decides by them, on what the name holds then. A target that is
// absent now takes one file of the file quota at once (ErrQuotaExceeded
// before any byte moves). It fails with ErrFileBusy while a writer in
// place holds the name.
func BeginUpload(ctx context.Context, fsys vfs.FS, q accounts.Quota, name string, mayCreate, mayReplace bool) (*Upload, error) {
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
	u.tmp = path.Join(path.Dir(name), tempName(path.Base(name), u.existed))
	u.release = ownTemp(path.Base(u.tmp))
	return u, nil
}

// BeginRewrite starts an upload that makes a new version of the file at
// name from its first bytes (Keep) and what follows them (REST below the
// end). mayReplace says whether the user may replace any file there;
// otherwise the commit replaces only the file Keep read (fs.ErrExist for
// any other). If the file goes away meanwhile the commit refuses
// (fs.ErrPermission): there is nothing left to rewrite.
func BeginRewrite(ctx context.Context, fsys vfs.FS, q accounts.Quota, name string, mayReplace bool) (*Upload, error) {
	u, err := BeginUpload(ctx, fsys, q, name, false, true)
	if err != nil {
		return nil, err
	}
	u.rewrite, u.mayReplace = true, mayReplace
	return u, nil
}

// Keep copies the first keep bytes of the file at name into f (the
// temporary file, fresh from Create), charged to the quota like received
// bytes (ctx as for xfer.Receive), and returns how many it copied and
// counted: io.ErrUnexpectedEOF if the file is shorter than keep.
func (u *Upload) Keep(ctx context.Context, f vfs.File, keep int64) (int64, error) {
	if !u.rewrite {
		return 0, errors.New("ftp: Keep of an upload that is no rewrite")
	}
	of, ok := f.(*os.File)
	if !ok {
		return 0, errors.New("ftp: Keep: backend file is not an *os.File")
	}
	src, err := u.fsys.Open(ctx, u.name)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, ErrNotPlainFile
	}
	if !u.mayReplace {
		u.only = fi
	}
	n, err := xfer.Receive(ctx, of, io.NewSectionReader(src, 0, keep), u.q, nil)
	if err == nil && n < keep {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Existed reports whether the target existed when the upload began.
func (u *Upload) Existed() bool { return u.existed }

// Create creates the temporary file.
func (u *Upload) Create(ctx context.Context) (vfs.File, error) {
	return u.fsys.OpenFile(ctx, u.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
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
	if err := u.q.Allowance(ctx, cur.Size()); err != nil {
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

// Commit renames the temporary file (of n bytes, all counted) into place
// and settles usage. A target that became a folder (ErrNotPlainFile), or a
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
	for range 3 {
		cur, err := lstat(ctx, u.fsys, u.name)
		if err != nil {
			return false, errors.Join(err, u.discard(ctx, n))
		}
		switch {
		case cur != nil && !cur.Mode().IsRegular():
			return false, errors.Join(ErrNotPlainFile, u.discard(ctx, n))
		case cur != nil && !u.mayReplace && (u.only == nil || !os.SameFile(cur, u.only)):
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
		if cur == nil {
			err = renameNoReplace(ctx, u.fsys, u.tmp, u.name)
			if errors.Is(err, fs.ErrExist) {
				// Another process created it: look again.
				continue
			}
			if err != nil && u.mayReplace && (errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EPERM)) {
				// No atomic refusal here; this user may replace anyway.
				err = u.fsys.Rename(ctx, u.tmp, u.name)
			}
		} else {
			err = u.fsys.Rename(ctx, u.tmp, u.name)
		}
		if err != nil {
			return false, errors.Join(fmt.Errorf("rename upload into place: %w", err), u.discard(ctx, n))
		}
		var files int64
		if cur != nil && u.slot {
			files = -1 // the replaced file's place is the upload's
		}
		freed := u.st.taken(cur, u)
		err = record(ctx, u.q, -freed, files)
		u.dropAllowance() // only once the original is no longer counted
		return cur != nil, err
	}
	return false, errors.Join(fs.ErrExist, u.discard(ctx, n))
}

// Discard removes the temporary file (of n bytes, all counted) and gives
// back its usage; the original, if any, stays and is counted again if the
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
	if err := u.fsys.Remove(ctx, u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Still on disk, so still counted.
		return fmt.Errorf("remove upload: %w", err)
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

// InPlace is a write in place (REST at the end, APPE) holding its name.
type InPlace struct {
	fsys vfs.FS
	q    accounts.Quota
	key  string
	st   *nameState
	once sync.Once
}

// BeginInPlace takes name for a write in place; ErrFileBusy while anything
// else writes it.
func BeginInPlace(fsys vfs.FS, q accounts.Quota, name string) (*InPlace, error) {
	w := &InPlace{fsys: fsys, q: q, key: nameKey(fsys, name)}
	w.st = ledger.get(w.key)
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	if w.st.inPlace || w.st.uploads > 0 {
		ledger.put(w.key)
		return nil, ErrFileBusy
	}
	w.st.inPlace = true
	return w, nil
}

// End releases the name.
func (w *InPlace) End() {
	w.once.Do(func() {
		w.st.mu.Lock()
		w.st.inPlace = false
		w.st.mu.Unlock()
		ledger.put(w.key)
	})
}

// RemoveFile removes the file name (not a folder) and counts it.
func RemoveFile(ctx context.Context, fsys vfs.FS, q accounts.Quota, name string) (fs.FileInfo, error) {
	sts, unlock := lockNames(fsys, name)
	defer unlock()
	st := sts[0]
	if st.inPlace {
		return nil, ErrFileBusy
	}
	cur, err := fsys.Lstat(ctx, name)
	if err != nil {
		return nil, err
	}
	if cur.IsDir() {
		return nil, syscall.EISDIR
	}
	if err := fsys.Remove(ctx, name); err != nil {
		return nil, err
	}
	var files int64
	if cur.Mode().IsRegular() {
		files = -1
	}
	return cur, record(ctx, q, -st.taken(cur, nil), files)
}

// RenameFile renames from to to and counts a file it replaced. mayReplace
// says whether the user may replace an existing to: if not, the rename
// refuses atomically (fs.ErrExist).
func RenameFile(ctx context.Context, fsys vfs.FS, q accounts.Quota, from, to string, mayReplace bool) error {
	sts, unlock := lockNames(fsys, from, to)
	defer unlock()
	fst, tst := sts[0], sts[1]
	if fst.inPlace || tst.inPlace {
		return ErrFileBusy
	}
	moved, err := fsys.Lstat(ctx, from)
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
		return syscall.EISDIR
	}
	if cur == nil || !mayReplace {
		err = renameNoReplace(ctx, fsys, from, to)
		if err != nil && mayReplace && !errors.Is(err, fs.ErrExist) && (errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EPERM)) {
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
		bytes, files = -tst.taken(cur, nil), -1
	}
	if c := fst.credit; c != nil && os.SameFile(c.orig, moved) {
		// The original an upload was to replace lives on under another
		// name: the upload no longer replaces it.
		fst.revoke()
	}
	return record(ctx, q, bytes, files)
}
