package ftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftpproto"
	"github.com/wharfftp/wharf/internal/vfs"
	"github.com/wharfftp/wharf/internal/xfer"
)

var errNotPlainFile = replyErr(ftpproto.CodeFileUnavailable, "Not a plain file.")
var errBadRest = replyErr(ftpproto.CodeBadRestart, "Invalid REST parameter.")
var errBadRang = replyErr(ftpproto.CodeBadRestart, "Invalid RANG parameter: start is past the end of the file.")

// errRangNotForUpload refuses an upload after RANG: wharf applies a range to
// RETR and HASH only, and writing a whole upload where a client meant a
// range would corrupt its file.
var errRangNotForUpload = replyErr(ftpproto.CodeBadSequence, "RANG applies to RETR and HASH only; send RANG 1 0 first.")

func (ss *session) cmdRETR(arg string) error {
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	off := ss.rest
	if ss.rangSet {
		off = ss.rangLo
	}
	if off > 0 {
		// An offset past the end is refused before anything is opened
		// (a storage refuses to open there, without saying why).
		fi, err := ss.fs.Stat(ss.ctx, name)
		if err != nil {
			return err
		}
		if err := checkOffset(fi, off, ss.rangSet); err != nil {
			return err
		}
	}
	f, err := ss.fs.OpenRead(ss.ctx, name, off)
	switch {
	case errors.Is(err, vfs.ErrIsDir):
		return errNotPlainFile
	case errors.Is(err, fs.ErrInvalid) && off > 0:
		return errBadRest // it shrank since the look
	case err != nil:
		return err
	}
	fi := f.Info()
	if err := checkOffset(fi, off, ss.rangSet); err != nil {
		f.Close()
		return err
	}
	count := fi.Size() - off
	if ss.rangSet {
		// draft-bryan-ftp-range: bytes start through end, both included;
		// an end past the file's end stops at it.
		count = min(ss.rangHi, fi.Size()-1) - ss.rangLo + 1
	}
	lim := ss.limiter(false)
	binary := ss.binary
	ranged := ss.rangSet
	what := fmt.Sprintf("%s (%d bytes)", abs, count)
	return ss.startTransfer(what, abs, false, func(ctx context.Context, dc net.Conn, x *transfer) (int64, error) {
		x.size.Store(count)
		var src io.Reader = f
		if of, ok := f.(vfs.OSFiler); ok {
			src = of.OSFile() // so sendfile applies
		}
		if ranged {
			// A LimitedReader of the file itself: sendfile still applies.
			src = &io.LimitedReader{R: src, N: count}
		}
		if !binary {
			src = xfer.ToCRLF(src)
		}
		n, err := xfer.Send(ctx, dc, src, lim)
		if err != nil {
			return n, fmt.Errorf("%w: %w", errDataBroken, err)
		}
		return n, nil
	}, func() { f.Close() })
}

// checkOffset refuses a download offset (REST, or RANG's start) that fi,
// the file, does not reach.
func checkOffset(fi fs.FileInfo, off int64, rang bool) error {
	switch {
	case !fi.Mode().IsRegular():
		return errNotPlainFile
	case rang && off >= fi.Size():
		return errBadRang
	case off > fi.Size():
		return errBadRest
	}
	return nil
}

func (ss *session) cmdSTOR(arg string) error { return ss.store(arg, false) }
func (ss *session) cmdAPPE(arg string) error { return ss.store(arg, true) }

func (ss *session) cmdSTOU(arg string) error {
	if ss.rangSet {
		return errRangNotForUpload
	}
	base := "file"
	if arg != "" {
		base = path.Base(arg)
	}
	dirAbs := ss.cwd
	if strings.Contains(arg, "/") {
		dirAbs = path.Dir(arg)
	}
	abs, _, err := ss.resolve(path.Join(dirAbs, base))
	if err != nil {
		return err
	}
	dir, base := path.Dir(abs), path.Base(abs)
	for i := range 100 {
		cand := abs
		if i > 0 {
			cand = path.Join(dir, fmt.Sprintf("%s.%d", base, i))
		}
		_, name, _ := ss.resolve(cand)
		if _, err := statL(ss.ctx, ss.fs, name); errors.Is(err, fs.ErrNotExist) {
			// RFC 1123 section 4.1.2.9: "150 FILE: name". The look is
			// only a guess: the commit refuses to replace a file another
			// session created meanwhile.
			return ss.upload(cand, name, true, "FILE: "+path.Base(cand), 0)
		}
	}
	return replyErr(ftpproto.CodeFileUnavailable, "Could not pick a unique file name.")
}

// store handles STOR (with or without REST) and APPE.
func (ss *session) store(arg string, appendMode bool) error {
	if ss.rangSet {
		return errRangNotForUpload
	}
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	fi, err := statL(ss.ctx, ss.fs, name)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists && !fi.Mode().IsRegular() {
		return errNotPlainFile
	}
	off := ss.rest
	resume := appendMode || off > 0
	switch {
	case resume && exists:
		err = ss.need(abs, accounts.PermAppend)
	case off > 0:
		return errBadRest // REST into a file that is not there
	case exists:
		if err = ss.need(abs, accounts.PermOverwrite); err != nil && ss.user().PermsFor(abs).Has(accounts.PermUpload) {
			// The user may upload, just not over this name: say why, as
			// the share's web page does.
			err = errNoReplace
		}
	default:
		err = ss.need(abs, accounts.PermUpload)
	}
	if err != nil {
		return err
	}
	if resume && exists {
		if !appendMode && off > fi.Size() {
			return errBadRest
		}
		if !appendMode && off < fi.Size() {
			return ss.upload(abs, name, false, abs, off)
		}
		return ss.resumeUpload(abs, name, appendMode, off)
	}
	return ss.upload(abs, name, false, abs, 0)
}

// upload stores a new file, or replaces one, through a temporary file in
// the same folder renamed over the target under the commit rule (see the
// package doc and ledger.go). noReplace (STOU) never replaces a file,
// whatever the user may do.
//
// keep > 0 is a REST below the end of the file: the new file is its first
// keep bytes followed by the upload. They are copied into the temporary
// file first rather than cut off the file in place, because a cut made
// before the new data is stored loses the old tail whenever the upload is
// refused (full disk, quota) or never comes; the copy costs keep bytes of
// disk reads for a command clients rarely send (a resume is REST at the
// end, which writes in place).
func (ss *session) upload(abs, name string, noReplace bool, what string, keep int64) error {
	q := ss.acct.Quota()
	perms := ss.user().PermsFor(abs)
	var up *Upload
	var err error
	if keep > 0 {
		// The right checked was to append (store): that file, and no
		// other one that takes its name meanwhile, may be rewritten.
		up, err = BeginRewrite(ss.ctx, ss.fs, q, name, keep, perms.Has(accounts.PermOverwrite))
	} else {
		up, err = BeginUpload(ss.ctx, ss.fs, q, name, perms.Has(accounts.PermUpload), perms.Has(accounts.PermOverwrite) && !noReplace)
	}
	if err != nil {
		return err
	}
	exists := up.Existed()
	lim := ss.limiter(true)
	binary := ss.binary
	durable := ss.srv.cfg.Durable
	resumable := mayResume(perms)
	log := ss.log
	// discard drops the upload; a file gone but not given back in usage
	// is repaired, not reported to the client.
	discard := func(ctx context.Context, n int64) error {
		err := up.Discard(context.WithoutCancel(ctx), n)
		if notCounted(err) {
			RepairUsage(ss.fs, q, log, "discard upload "+abs, err)
			return nil
		}
		return err
	}
	fn := func(ctx context.Context, dc net.Conn, x *transfer) (int64, error) {
		// The upload is one writer, named by its temporary file: a Quota
		// that tracks uploads beyond this process can then count the
		// file should this process die (see recoverTarget).
		ctx = accounts.WithUpload(ctx, up.TempPath())
		if t, ok := q.(accounts.UploadTracker); ok {
			defer t.EndUpload(ctx)
		}
		bg := context.WithoutCancel(ctx)
		f, err := up.Create(ctx, durable)
		if errors.Is(err, fs.ErrInvalid) && keep > 0 {
			err = errBadRest // cut below the offset meanwhile
		}
		if err != nil {
			return 0, errors.Join(err, discard(bg, 0))
		}
		// Once data flows the old file is going to be replaced, complete
		// upload or not (see the package doc), so the upload may use its
		// room: a user near the limit can still overwrite a big file.
		ctx = accounts.WithWriter(ctx)
		if err := up.Credit(ctx); err != nil {
			return 0, errors.Join(err, discard(bg, 0))
		}
		var kept int64
		if keep > 0 {
			// The storage copied the first keep bytes at Create; they
			// are charged like received ones.
			if kept, err = up.Keep(ctx); err != nil {
				if notCounted(err) {
					RepairUsage(ss.fs, q, log, "upload "+abs, err)
				}
				return 0, errors.Join(uploadErr(err), discard(bg, kept))
			}
		}
		n, rerr := receive(ctx, f, dc, q, lim, binary)
		stored := kept + n
		if rerr == nil && !resumable && ss.clientGone(ctx) {
			// The end of the data said nothing: a killed client's kernel
			// ends it with a FIN like a finished upload. Only a user who
			// can never finish a partial file needs the difference.
			rerr = fmt.Errorf("%w: client closed the control connection", errDataBroken)
		}
		if notCounted(rerr) {
			// Stored, not in usage: whatever the upload becomes, only a
			// count says what usage must be.
			defer RepairUsage(ss.fs, q, log, "upload "+abs, rerr)
		}
		refused := errors.Is(rerr, accounts.ErrQuotaExceeded) || isNoSpace(rerr)
		if rerr != nil && (!resumable || refused && (exists || stored == 0)) {
			// A refusal never loses data: the file the upload was to
			// replace stays as it was, and a new file of which nothing
			// could be stored is not created; a full disk is refused as
			// the quota is. A partial its uploader could never finish (an
			// upload-only drop box) would only pass for a complete file:
			// it is dropped and its room given back.
			if err := discard(bg, stored); err != nil {
				log.Error("discard upload", "path", abs, "err", err)
				rerr = errors.Join(rerr, err)
			}
			return n, uploadErr(rerr)
		}
		// Put what arrived in place, complete or not.
		_, err = up.Commit(bg, stored)
		if notCounted(err) {
			RepairUsage(ss.fs, q, log, "upload "+abs, err)
		}
		if errors.Is(err, ErrCommitted) {
			err = nil
		}
		if err != nil {
			if errors.Is(err, fs.ErrExist) && !errors.Is(err, accounts.ErrQuotaExceeded) {
				// Created meanwhile by another session, and this user may
				// not replace it: the commit refused, nothing changed.
				log.Info("upload refused: the name was taken meanwhile", "path", abs)
				return n, errors.Join(rerr, errTakenMeanwhile)
			}
			switch {
			case errors.Is(err, accounts.ErrQuotaExceeded), notCounted(err):
			case errors.Is(err, fs.ErrPermission), errors.Is(err, ErrNotPlainFile):
				// A refusal decided by the commit (the file it was to
				// replace went away, or became a folder): no fault.
				log.Info("upload refused at its commit", "path", abs, "err", err)
			default:
				log.Error("commit upload", "path", abs, "err", err)
			}
			return n, errors.Join(uploadErr(rerr), err)
		}
		if refused {
			if fi, err := ss.fs.Stat(bg, name); err == nil {
				ss.srv.partials.mark(fi)
			}
		}
		return n, uploadErr(rerr)
	}
	ran := false
	run := func(ctx context.Context, dc net.Conn, x *transfer) (int64, error) {
		ran = true
		return fn(ctx, dc, x)
	}
	cleanup := func() {
		if !ran {
			// The data connection never opened: nothing changes, but the
			// file the upload held in the file quota is given back.
			if err := discard(ss.ctx, 0); err != nil {
				log.Error("discard upload", "path", abs, "err", err)
			}
		}
	}
	return ss.startTransfer(what, abs, true, run, cleanup)
}

// errTakenMeanwhile answers an upload whose new name another session
// created while it ran, for a user who may not replace it.
var errTakenMeanwhile = replyErr(ftpproto.CodeFileUnavailable, "File exists: created by another upload meanwhile; not replaced.")

// isNoSpace reports a full storage (a disk, a filesystem or bucket quota).
func isNoSpace(err error) bool {
	return errors.Is(err, vfs.ErrNoSpace)
}

// mayResume reports whether perms (those of an upload's target) let a user
// finish a partial upload: with REST+STOR or APPE, or by uploading it again
// over itself. A partial is worth keeping only then; to anyone else it
// would only pass for a complete file.
func mayResume(perms accounts.Perm) bool {
	return perms.Has(accounts.PermAppend) || perms.Has(accounts.PermOverwrite)
}

// resumeUpload continues a file at its end (REST at its size, APPE): the
// file is by then known to be partial. The storage keeps what it holds
// without the client sending it again (written in place on a local disk,
// copied server-side on an object store), and nothing of it is cut.
func (ss *session) resumeUpload(abs, name string, appendMode bool, off int64) error {
	q := ss.acct.Quota()
	w, err := BeginInPlace(ss.fs, q, name)
	if err != nil {
		return err
	}
	// The size is read once the name is held: the look before (in store)
	// may have seen a file replaced since, and bytes written over existing
	// ones would be counted as growth.
	fi, err := ss.fs.Stat(ss.ctx, name)
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotPlainFile
	}
	if err == nil && !appendMode && off > fi.Size() {
		err = errBadRest
	}
	if err != nil {
		w.End()
		return err
	}
	size := fi.Size()
	if appendMode {
		off = size
	}
	if off < size {
		// It grew since the look in store: a REST below the end now,
		// which is never cut in place (see upload).
		w.End()
		return ss.upload(abs, name, false, abs, off)
	}
	lim := ss.limiter(true)
	binary := ss.binary
	durable := ss.srv.cfg.Durable
	fsys := ss.fs
	return ss.startTransfer(abs, abs, true, func(ctx context.Context, dc net.Conn, x *transfer) (int64, error) {
		bg := context.WithoutCancel(ctx)
		h, err := w.Create(ctx, size, durable)
		if err != nil {
			return 0, err
		}
		n, rerr := receive(ctx, h, dc, q, lim, binary)
		if notCounted(rerr) {
			RepairUsage(fsys, q, ss.log, "append to "+abs, rerr)
		}
		// What arrived is kept however the transfer ended: the file was
		// partial already.
		if err := w.Commit(bg, n); err != nil {
			if notCounted(err) {
				RepairUsage(fsys, q, ss.log, "commit resumed upload "+abs, err)
			} else {
				ss.log.Error("commit resumed upload", "path", abs, "err", err)
			}
			return n, errors.Join(uploadErr(rerr), err)
		}
		if errors.Is(rerr, accounts.ErrQuotaExceeded) || isNoSpace(rerr) {
			if fi, err := fsys.Stat(bg, name); err == nil {
				ss.srv.partials.mark(fi)
			}
		}
		return n, uploadErr(rerr)
	}, w.End)
}

// receive copies an upload into h through xfer.Receive, into the local
// file behind it where there is one (so splice applies).
func receive(ctx context.Context, h vfs.Upload, dc net.Conn, q accounts.Quota, lim *rate.Limiter, binary bool) (int64, error) {
	var src io.Reader = dc
	if !binary {
		src = xfer.FromCRLF(dc)
	}
	of, ok := h.(vfs.OSFiler)
	if !ok {
		return xfer.Receive(ctx, h, src, q, lim)
	}
	n, err := xfer.Receive(ctx, of.OSFile(), src, q, lim)
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ETIMEDOUT) {
		// splice(2) reports the data connection's end as the file's.
		return n, err
	}
	return n, vfs.OSError(err)
}

// uploadErr classifies a failed upload: the quota keeps its 552; anything on
// the data side is a broken transfer (426).
func uploadErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, accounts.ErrQuotaExceeded), errors.Is(err, vfs.ErrTransient):
		// A storage outage is the storage's failure, not the client's.
		return err
	case errors.Is(err, xfer.ErrTruncated), isNetErr(err), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled),
		// splice(2) reports a reset peer as an error of the file write,
		// not as a *net.OpError.
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ETIMEDOUT):
		return fmt.Errorf("%w: %w", errDataBroken, err)
	}
	return err
}

func randHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (ss *session) cmdREST(arg string) error {
	n, ok := parseOffset(arg)
	if !ok {
		return replyErr(ftpproto.CodeArgSyntaxError, "REST needs a non-negative byte offset.")
	}
	ss.rest = n
	ss.rangSet = false // the last of REST and RANG applies
	ss.reply(ftpproto.CodePending, fmt.Sprintf("Restarting at %d. Send STORE or RETRIEVE to initiate transfer.", n))
	return nil
}

func (ss *session) cmdDELE(arg string) error {
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	fi, err := statL(ss.ctx, ss.fs, name)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return replyErr(ftpproto.CodeFileUnavailable, "Is a directory: use RMD.")
	}
	fi, err = RemoveFile(ss.ctx, ss.fs, ss.acct.Quota(), name)
	if errors.Is(err, vfs.ErrIsDir) {
		return replyErr(ftpproto.CodeFileUnavailable, "Is a directory: use RMD.")
	}
	if fi == nil {
		return err
	}
	if err != nil {
		// Removed, but not counted: the log must say so.
		RepairUsage(ss.fs, ss.acct.Quota(), ss.log, "delete "+abs, err)
	}
	ss.log.Info("delete", "path", abs, "bytes", fi.Size())
	ss.event(Event{Kind: Deleted, Path: abs, RealPath: ss.realPath(abs), Bytes: fi.Size()})
	ss.reply(ftpproto.CodeFileActionOK, "Delete operation successful.")
	return nil
}

func (ss *session) cmdRNFR(arg string) error {
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	if abs == "/" {
		return replyErr(ftpproto.CodeFileUnavailable, "Can't rename the root folder.")
	}
	if _, err := statL(ss.ctx, ss.fs, name); err != nil {
		return err
	}
	ss.rnfr, ss.rnfrAbs = name, abs
	ss.reply(ftpproto.CodePending, "Ready for RNTO.")
	return nil
}

func (ss *session) cmdRNTO(arg string) error {
	if ss.rnfr == "" {
		return replyErr(ftpproto.CodeBadSequence, "RNFR required first.")
	}
	from, fromAbs := ss.rnfr, ss.rnfrAbs
	abs, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	if abs == "/" {
		return replyErr(ftpproto.CodeFileUnavailable, "Can't rename onto the root folder.")
	}
	if err := ss.need(fromAbs, accounts.PermRename); err != nil {
		return err
	}
	mayReplace := ss.user().PermsFor(abs).Has(accounts.PermOverwrite)
	err = RenameFile(ss.ctx, ss.fs, ss.acct.Quota(), from, name, mayReplace)
	switch {
	case errors.Is(err, vfs.ErrIsDir):
		return replyErr(ftpproto.CodeFileUnavailable, "Target is an existing directory.")
	case errors.Is(err, fs.ErrExist) && !mayReplace:
		// Decided by the rename itself (RENAME_NOREPLACE), not by a look
		// before it.
		ss.log.Info("permission denied", "path", abs, "perm", accounts.PermOverwrite.String())
		return errNoReplace
	case err != nil && !errors.Is(err, ErrNotRecorded):
		return err
	case err != nil:
		RepairUsage(ss.fs, ss.acct.Quota(), ss.log, "rename to "+abs, err)
	}
	ss.log.Info("rename", "path", abs, "from", fromAbs)
	ss.reply(ftpproto.CodeFileActionOK, "Rename successful.")
	return nil
}

// statFile resolves and stats a regular file for SIZE, MDTM, HASH.
func (ss *session) statFile(arg string) (abs, name string, fi fs.FileInfo, err error) {
	abs, name, err = ss.resolve(arg)
	if err != nil {
		return "", "", nil, err
	}
	fi, err = ss.fs.Stat(ss.ctx, name)
	if err != nil {
		return "", "", nil, err
	}
	if !fi.Mode().IsRegular() {
		return "", "", nil, errNotPlainFile
	}
	return abs, name, fi, nil
}

// cmdSIZE reports a file's size in TYPE I only. In TYPE A the size a
// transfer would send differs from the file's (every LF becomes CRLF) and
// knowing it means reading the whole file, so SIZE is refused there, as
// vsftpd and pyftpdlib do; a client resuming in TYPE A would otherwise
// compute a wrong REST offset.
func (ss *session) cmdSIZE(arg string) error {
	if !ss.binary {
		return replyErr(ftpproto.CodeFileUnavailable, "SIZE not allowed in ASCII mode.")
	}
	_, _, fi, err := ss.statFile(arg)
	if errors.Is(err, fs.ErrNotExist) && ss.recoverTarget(arg) {
		_, _, fi, err = ss.statFile(arg)
	}
	if err != nil {
		return err
	}
	ss.reply(ftpproto.CodeFileStatus, fmtSize(fi.Size()))
	return nil
}

// mdtmLayout is the RFC 3659 time-val, always UTC.
const mdtmLayout = "20060102150405"

func (ss *session) cmdMDTM(arg string) error {
	_, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	fi, err := ss.fs.Stat(ss.ctx, name)
	if err != nil {
		return err
	}
	ss.reply(ftpproto.CodeFileStatus, fi.ModTime().UTC().Format(mdtmLayout))
	return nil
}

func (ss *session) cmdMFMT(arg string) error {
	ts, p, ok := strings.Cut(arg, " ")
	if !ok || p == "" {
		return replyErr(ftpproto.CodeArgSyntaxError, "Syntax: MFMT YYYYMMDDHHMMSS path")
	}
	t, err := parseTimeVal(ts)
	if err != nil {
		return replyErr(ftpproto.CodeArgSyntaxError, "Bad time value.")
	}
	if !settable(t) {
		// Outside the range os.Chtimes set another time (9999 became
		// 1901) and the 213 lied; year 1 is its "leave unchanged".
		return replyErr(ftpproto.CodeArgSyntaxError, "Time value out of range (years 1678 to 2262).")
	}
	abs, name, err := ss.resolve(p)
	if err != nil {
		return err
	}
	if err := ss.fs.Chtimes(ss.ctx, name, t, t); err != nil {
		return err
	}
	ss.reply(ftpproto.CodeFileStatus, "Modify="+t.Format(mdtmLayout)+"; "+abs)
	return nil
}

// settable reports whether MFMT can set t: os.Chtimes takes nanoseconds
// since 1970 in an int64.
func settable(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

// parseTimeVal reads an RFC 3659 time-val, with optional fraction.
func parseTimeVal(s string) (time.Time, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(whole) != len(mdtmLayout) {
		return time.Time{}, errors.New("bad time-val length")
	}
	t, err := time.ParseInLocation(mdtmLayout, whole, time.UTC)
	if err != nil {
		return time.Time{}, err
	}
	if frac != "" {
		if len(frac) > 9 {
			return time.Time{}, errors.New("bad fraction")
		}
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return time.Time{}, err
		}
		for range 9 - len(frac) {
			n *= 10
		}
		t = t.Add(time.Duration(n))
	}
	return t, nil
}

// cmdALLO answers ALLO <bytes> [R <record size>] (RFC 959 section 4.1.3):
// no allocation is needed, but a size the quota cannot hold is refused up
// front so a client learns it before sending the data.
func (ss *session) cmdALLO(arg string) error {
	n, ok := parseALLO(arg)
	if !ok {
		return replyErr(ftpproto.CodeArgSyntaxError, "Syntax: ALLO <bytes> [R <record size>]")
	}
	u, err := ss.acct.Quota().Usage(ss.ctx)
	if err == nil && u.QuotaBytes > 0 && n > u.QuotaBytes-u.UsedBytes {
		return replyErr(ftpproto.CodeExceededStorage, "Not enough quota for that many bytes.")
	}
	ss.reply(ftpproto.CodeNotImplementedOK, "No storage allocation necessary.")
	return nil
}

// parseALLO reads "<bytes>" or "<bytes> R <record size>", fields separated
// by ASCII spaces, numbers unsigned decimal that fit an int64.
func parseALLO(arg string) (int64, bool) {
	f := strings.FieldsFunc(arg, func(r rune) bool { return r == ' ' })
	if len(f) != 1 && (len(f) != 3 || !strings.EqualFold(f[1], "R")) {
		return 0, false
	}
	n, ok := parseOffset(f[0])
	if len(f) == 3 {
		_, recOK := parseOffset(f[2])
		ok = ok && recOK
	}
	return n, ok
}

// parseOffset reads a byte count or offset: ASCII digits only (no sign, no
// spaces: strconv.ParseInt would take "+5"), at most int64.
func parseOffset(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// avail is the room left for uploads: the lower of quota room and disk free.
func (ss *session) avail(name string) (int64, error) {
	free, err := ss.fs.Avail(ss.ctx, name)
	if err != nil {
		return 0, err
	}
	u, err := ss.acct.Quota().Usage(ss.ctx)
	if err != nil {
		return 0, err
	}
	if u.QuotaBytes > 0 {
		free = min(free, max(u.QuotaBytes-u.UsedBytes, 0))
	}
	return free, nil
}

func (ss *session) cmdAVBL(arg string) error {
	if arg == "" {
		arg = "."
	}
	_, name, err := ss.resolve(arg)
	if err != nil {
		return err
	}
	n, err := ss.avail(name)
	if err != nil {
		return err
	}
	ss.reply(ftpproto.CodeFileStatus, fmtSize(n))
	return nil
}

// cmdRANG sets the byte range (start and end both included) of the next
// RETR or HASH (draft-bryan-ftp-range). "RANG 1 0" resets it. RANG and REST
// replace each other: the last one given applies.
func (ss *session) cmdRANG(arg string) error {
	lo, hi, ok := strings.Cut(arg, " ")
	a, ok1 := parseOffset(lo)
	b, ok2 := parseOffset(strings.Trim(hi, " "))
	if !ok || !ok1 || !ok2 {
		return replyErr(ftpproto.CodeArgSyntaxError, "Syntax: RANG <start> <end>")
	}
	if a == 1 && b == 0 {
		ss.rangSet = false
		ss.reply(ftpproto.CodePending, "Range reset.")
		return nil
	}
	// The end is inclusive: HASH and RETR add one to it, which must not
	// overflow.
	if b < a || b == math.MaxInt64 {
		return replyErr(ftpproto.CodeArgSyntaxError, "RANG needs 0 <= start <= end (RANG 1 0 resets).")
	}
	ss.rangSet, ss.rangLo, ss.rangHi = true, a, b
	ss.rest = 0
	ss.reply(ftpproto.CodePending, fmt.Sprintf("Restarting at %d. Ending at %d.", a, b))
	return nil
}

func (ss *session) cmdHASH(arg string) error {
	start, end := int64(0), int64(-1)
	if ss.rangSet {
		start, end = ss.rangLo, ss.rangHi+1 // RANG's end byte is included
	}
	abs, sum, start, end, err := ss.hashFile(arg, ss.hashAlgo, start, end)
	if errors.Is(err, errNotPlainFile) {
		// draft-bryan-ftpext-hash: a name that is no file is 553.
		return replyErr(ftpproto.CodeBadFileName, "HASH applies to files only.")
	}
	if err != nil {
		return err
	}
	// draft-bryan-ftpext-hash: "213 <algo> <start>-<end> <hash> <file>",
	// the end being the last byte hashed (inclusive, as in RANG). An empty
	// range has no last byte; it is written start-start.
	last := max(start, end-1)
	ss.reply(ftpproto.CodeFileStatus, fmt.Sprintf("%s %d-%d %s %s", ss.hashAlgo, start, last, sum, path.Base(abs)))
	return nil
}

// xhash makes the handler of an X* checksum command ("XMD5 file [start
// [end]]"). These have no specification; wharf keeps the de-facto form
// where end is exclusive (the offset just after the last byte, so "0 100"
// is the first 100 bytes), as proftpd's mod_digest reads "XCRC path 0 100"
// (offset 0, 100 bytes). Only HASH follows the inclusive RANG convention.
func xhash(algo string) func(ss *session, arg string) error {
	return func(ss *session, arg string) error {
		file, start, end, err := splitRangeArgs(arg)
		if err != nil {
			return err
		}
		_, sum, _, _, err := ss.hashFile(file, algo, start, end)
		if err != nil {
			return err
		}
		ss.reply(ftpproto.CodeFileActionOK, sum)
		return nil
	}
}

// hashFile checksums [start, end) of a file (end < 0: to its end) and
// returns the range actually hashed.
func (ss *session) hashFile(arg, algo string, start, end int64) (abs, sum string, lo, hi int64, err error) {
	abs, name, fi, err := ss.statFile(arg)
	if err != nil {
		return "", "", 0, 0, err
	}
	if end < 0 || end > fi.Size() {
		end = fi.Size()
	}
	if start > end {
		return "", "", 0, 0, replyErr(ftpproto.CodeArgSyntaxError, "Invalid byte range.")
	}
	if cs, ok := ss.fs.(vfs.Checksummer); ok && start == 0 && end == fi.Size() {
		// Stored while the file was uploaded: no need to read it.
		if sum, ok, err := cs.Checksum(ss.ctx, name, algo); err == nil && ok {
			return abs, sum, start, end, nil
		}
	}
	f, err := ss.fs.OpenRead(ss.ctx, name, start)
	if err != nil {
		return "", "", 0, 0, err
	}
	defer f.Close()
	if of, ok := f.(vfs.OSFiler); ok {
		sum, err = xfer.Hash(ss.ctx, algo, of.OSFile(), start, end)
	} else {
		sum, err = xfer.HashReader(ss.ctx, algo, f, end-start)
	}
	if err != nil {
		return "", "", 0, 0, err
	}
	return abs, sum, start, end, nil
}
