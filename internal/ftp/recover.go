package ftp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/vfs"
)

// Crash recovery of uploads.
//
// An upload lives in a hidden temporary file until it is renamed into
// place (see the package doc), so a process that dies mid-upload leaves
// one behind: invisible to clients, unresumable, and charged to the user.
// The temporary name therefore says what the upload was for:
//
//	.wharf-upload-<16 hex>-n-<target>  a new file <target> in the same folder
//	.wharf-upload-<16 hex>-r-<target>  a replacement of the existing <target>
//	.wharf-upload-<16 hex>             target unknown (its name was too long)
//
// The first time a session of this Server opens a home, the home is walked
// once and every temporary file no upload of this process owns (uploads
// register their temporary name before creating it) is settled as a broken
// upload would have been had the process lived, under the upload policy.
// Age is no test: a server restarted a moment after a crash finds
// temporary files written a moment ago, and skipping them (as an earlier
// version did, by a margin of 2 s) left them hidden, unresumable and
// charged until the next restart. A file written after this Server started
// is skipped all the same: no crashed predecessor wrote it, so another live
// process (a `wharf share` of the same folder) owns it.
//   - a new file whose target name is still free, of a user who may resume
//     it there, is renamed to it: what arrived is kept and can be resumed;
//     its bytes and file were already counted while it was written.
//   - anything else is removed and its bytes are given back: a replacement
//     never destroys the original (as a quota refusal), so the original's
//     bytes, freed when the upload began, are counted again; a new file
//     whose name was taken meanwhile also gives back its file.
//
// Usage figures lost in the crash itself (deltas not yet written, at most
// 100 ms of them) are not recoverable here: `wharf user rescan` recounts a
// home exactly once it is settled.

// tempKindNew and tempKindReplace mark what an upload's temporary file is
// for.
const (
	tempKindNew     = 'n'
	tempKindReplace = 'r'
)

// maxNameLen is the longest file name the filesystems wharf runs on accept
// (NAME_MAX).
const maxNameLen = 255

// tempName returns a fresh temporary name, in the same folder, for an
// upload to the file called base; replace says it replaces an existing one.
func tempName(base string, replace bool) string {
	kind := byte(tempKindNew)
	if replace {
		kind = tempKindReplace
	}
	name := tmpPrefix + randHex()
	if full := name + "-" + string(kind) + "-" + base; len(full) <= maxNameLen {
		return full
	}
	return name
}

// parseTempName reports what a temporary upload file was for; ok is false
// when the name does not say.
func parseTempName(name string) (target string, kind byte, ok bool) {
	rest, found := strings.CutPrefix(name, tmpPrefix)
	if !found || len(rest) < 16+3 || rest[16] != '-' || rest[18] != '-' {
		return "", 0, false
	}
	for _, c := range rest[:16] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", 0, false
		}
	}
	kind, target = rest[17], rest[19:]
	if kind != tempKindNew && kind != tempKindReplace || target == "" || target == "." || target == ".." ||
		strings.ContainsRune(target, '/') || isTempName(target) {
		return "", 0, false
	}
	return target, kind, true
}

// recovery remembers which homes this Server has settled.
type recovery struct {
	started time.Time // immutable: when the Server was made
	noCount bool      // immutable: Config.UsageIsNotTheHome

	mu   sync.Mutex
	done map[string]chan struct{} // guarded by mu; by home path, closed once settled
}

func newRecovery(noCount bool) *recovery {
	return &recovery{started: time.Now(), noCount: noCount, done: make(map[string]chan struct{})}
}

// stale reports whether the temporary file fi is left over from a crash:
// no upload of this process owns it, and it was last written before this
// Server started.
func (r *recovery) stale(fi fs.FileInfo) bool {
	return !tempOwned(fi.Name()) && fi.ModTime().Before(r.started)
}

// once runs the recovery of home unless it ran already; a login that finds
// it running waits for it, so no session uploads into a home, or counts
// on its usage, before it is settled. The walk runs on the first caller's
// goroutine: the first login of a user after a start pays for it, once.
//
// After the walk the home is counted and the count replaces the user's
// usage (accounts.Quota.Recount): the deltas of the last moments before a
// crash (those not yet stored, uploads in flight) are lost with the
// process, and only a count can bring usage back to what is stored. Homes
// are the users' own (accounts refuses nested or shared homes), so the
// count is the user's. It is skipped when the walk saw an upload of
// another live process, or the Quota knows of one (accounts.LiveUploads:
// a cluster's node uploading for the user into a storage that shows no
// partial file).
func (r *recovery) once(ctx context.Context, u accounts.User, fsys vfs.Storage, q accounts.Quota, log *slog.Logger) {
	home := u.Home
	for {
		r.mu.Lock()
		ch, ok := r.done[home]
		if !ok {
			ch = make(chan struct{})
			r.done[home] = ch
			r.mu.Unlock()
			break
		}
		r.mu.Unlock()
		select {
		case <-ch:
			return
		case <-ctx.Done():
			return
		}
	}
	w := &walk{}
	err := r.recoverDir(ctx, fsys, ".", u, q, log, w)
	if err == nil && !w.busy && q != nil && !r.noCount {
		if lu, ok := q.(accounts.LiveUploads); ok {
			// Another node's upload counts its bytes as they arrive, in a
			// file this walk may not see (an S3 multipart upload is no
			// object until it completes): a count now would drop them.
			w.busy, err = lu.UploadsLive(ctx)
		}
		if err == nil && !w.busy {
			var bytes, files int64
			bytes, files, err = countHome(ctx, fsys, ".")
			if err == nil {
				err = q.Recount(ctx, bytes, files)
			}
		}
	}
	r.mu.Lock()
	ch := r.done[home]
	if err != nil {
		log.Warn("recover stale uploads", "home", home, "err", err)
		if ctx.Err() != nil {
			// The session ended mid-walk: the next login does it again.
			// (The channel is still closed below, for the logins waiting
			// on it; closing r.done[home] after the delete closed nil, a
			// panic with mu held that hung every later login.)
			delete(r.done, home)
		}
	}
	close(ch)
	r.mu.Unlock()
}

// walk is what a recovery walk saw.
type walk struct {
	busy bool // a temporary file of an upload in flight
}

// countHome sums the regular files below dir, as `wharf user rescan` does.
func countHome(ctx context.Context, fsys vfs.Storage, dir string) (bytes, files int64, err error) {
	d, err := fsys.List(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	var subdirs []string
	for {
		ents, rerr := d.Next(readDirBatch)
		for _, fi := range ents {
			switch {
			case fi.IsDir():
				subdirs = append(subdirs, path.Join(dir, fi.Name()))
			case fi.Mode().IsRegular():
				bytes += fi.Size()
				files++
			}
		}
		if errors.Is(rerr, io.EOF) || rerr == nil && len(ents) == 0 {
			break
		}
		if rerr != nil {
			d.Close()
			return 0, 0, rerr
		}
	}
	d.Close()
	for _, sub := range subdirs {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		b, f, err := countHome(ctx, fsys, sub)
		if err != nil {
			return 0, 0, err
		}
		bytes += b
		files += f
	}
	return bytes, files, nil
}

// readDirBatch bounds the entries read from a folder at once.
const readDirBatch = 1024

// recoverDir settles the stale temporary files in dir and below. Symbolic
// links are not followed.
func (r *recovery) recoverDir(ctx context.Context, fsys vfs.Storage, dir string, u accounts.User, q accounts.Quota, log *slog.Logger, w *walk) error {
	d, err := fsys.List(ctx, dir)
	if err != nil {
		return err
	}
	var subdirs []string
	for {
		ents, err := d.Next(readDirBatch)
		for _, fi := range ents {
			switch {
			case fi.IsDir():
				subdirs = append(subdirs, path.Join(dir, fi.Name()))
			case fi.Mode().IsRegular() && isTempName(fi.Name()):
				if !r.stale(fi) {
					w.busy = true
					continue
				}
				settleTemp(ctx, fsys, dir, fi, u, q, log)
			}
		}
		if errors.Is(err, io.EOF) || err == nil && len(ents) == 0 {
			break
		}
		if err != nil {
			d.Close()
			return err
		}
	}
	d.Close()
	for _, sub := range subdirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.recoverDir(ctx, fsys, sub, u, q, log, w); err != nil {
			log.Warn("recover stale uploads", "dir", sub, "err", err)
		}
	}
	return nil
}

// settleTemp keeps or removes one stale temporary file (see above).
func settleTemp(ctx context.Context, fsys vfs.Storage, dir string, fi fs.FileInfo, u accounts.User, q accounts.Quota, log *slog.Logger) {
	tmp := path.Join(dir, fi.Name())
	target, kind, ok := parseTempName(fi.Name())
	if ok && kind == tempKindNew && mayResume(u.PermsFor("/"+path.Join(dir, target))) {
		err := renameNoReplace(ctx, fsys, tmp, path.Join(dir, target))
		if err == nil {
			log.Info("recovered stale upload", "path", "/"+path.Join(dir, target), "bytes", fi.Size())
			return
		}
		if !errors.Is(err, fs.ErrExist) {
			log.Warn("recover stale upload", "path", "/"+tmp, "err", err)
			return
		}
	}
	// The original a replacement was meant for is counted again, as it is
	// still there.
	var orig int64
	if ok && kind == tempKindReplace {
		if cur, err := statL(ctx, fsys, path.Join(dir, target)); err == nil && cur.Mode().IsRegular() {
			orig = cur.Size()
		}
	}
	if err := fsys.Remove(ctx, tmp); err != nil {
		log.Warn("remove stale upload", "path", "/"+tmp, "err", err)
		return
	}
	var files int64
	if ok && kind == tempKindNew {
		files = -1
	}
	if err := record(ctx, q, orig-fi.Size(), files); err != nil {
		log.Error("removed stale upload", "path", "/"+tmp, "err", err)
	}
	log.Info("removed stale upload", "path", "/"+tmp, "bytes", fi.Size())
}

// renameNoReplace renames oldname to newname unless newname exists, in one
// atomic step; a storage that cannot do that refuses (errors.ErrUnsupported),
// it never looks first and renames after.
func renameNoReplace(ctx context.Context, fsys vfs.Storage, oldname, newname string) error {
	nr, ok := fsys.(vfs.NoReplaceRenamer)
	if !ok {
		return &fs.PathError{Op: "rename without replacing", Path: newname, Err: errors.ErrUnsupported}
	}
	return nr.RenameNoReplace(ctx, oldname, newname)
}

// recoverTarget settles the temporary files of new uploads to arg's name
// that a dead process left, when the session's Quota can tell (an
// accounts.UploadTracker: a cluster, where the node that wrote them may
// have died after this Server settled the home at its first login). It is
// asked when a client looks for a file that is not there, as a client
// resuming after a broken upload does (SIZE): the file it resumes is then
// the part that arrived, counted by what is stored. It reports whether it
// put a file in place.
func (ss *session) recoverTarget(arg string) bool {
	t, ok := ss.acct.Quota().(accounts.UploadTracker)
	if !ok {
		return false
	}
	abs, name, err := ss.resolve(arg)
	if err != nil || !mayResume(ss.user().PermsFor(abs)) {
		return false
	}
	dir, base := path.Dir(name), path.Base(name)
	l, err := ss.fs.List(ss.ctx, dir)
	if err != nil {
		return false
	}
	var cands []fs.FileInfo
	for {
		fis, err := l.Next(readDirBatch)
		for _, fi := range fis {
			if target, kind, ok := parseTempName(fi.Name()); ok && target == base && kind == tempKindNew &&
				fi.Mode().IsRegular() && !tempOwned(fi.Name()) {
				cands = append(cands, fi)
			}
		}
		if err != nil || len(fis) == 0 {
			break
		}
	}
	l.Close()
	put := false
	for _, fi := range cands {
		st, err := t.SettleOrphan(ss.ctx, path.Join(dir, fi.Name()), fi.Size())
		if err != nil {
			ss.log.Warn("settle orphaned upload", "path", "/"+path.Join(dir, fi.Name()), "err", err)
			continue
		}
		if st != accounts.OrphanSettled {
			continue
		}
		settleTemp(ss.ctx, ss.fs, dir, fi, ss.user(), ss.acct.Quota(), ss.log)
		if _, err := statL(ss.ctx, ss.fs, name); err == nil {
			put = true
		}
	}
	return put
}

// UploadTarget says what the upload labelled label writes (its temporary
// path relative to the home, the label of accounts.WithUpload): the path
// of the file, and whether it was a new file, for which the upload took a
// file of the quota. ok is false when the label does not say (a target
// name too long to fit in the temporary name).
func UploadTarget(label string) (target string, newFile, ok bool) {
	dir, base := path.Split(label)
	t, kind, ok := parseTempName(base)
	if !ok {
		return "", false, false
	}
	return path.Join(dir, t), kind == tempKindNew, true
}
