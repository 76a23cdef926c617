package share

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/vfs"
)

// tempPrefix starts the names of uploads in progress: the FTP engine's
// (ftp.IsTempName), which both protocols upload through. They live in the
// target folder (os.Root forbids a temp folder outside it, and a rename
// within one filesystem is atomic), are hidden from listings, never served
// and can never be the name of an upload.
const tempPrefix = ".wharf-upload-"

// maxNameLen is the longest file name most filesystems take (NAME_MAX).
const maxNameLen = 255

// maxFormBytes bounds a non-file form (the new-folder name): nothing
// legitimate comes close.
const maxFormBytes = 64 << 10

// reserveChunk is how much quota an upload asks for at a time: large
// enough that the quota store is not asked per write, small enough that a
// stream cut short does not hold much room while it is being torn down.
const reserveChunk = 4 << 20

// copyBuffer is the size of the buffer uploads are copied with.
const copyBuffer = 256 << 10

var (
	errBadName   = errors.New("bad file name")
	errForbidden = errors.New("refused by permissions")
	errBadUpload = errors.New("malformed upload")
	errNoSpace   = errors.New("no space left on device")
)

// checkName accepts a single path element a visitor may create. Control
// characters are refused because names are echoed to the terminal and into
// FTP listings, where a newline would forge lines.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxNameLen ||
		strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, tempPrefix) || !utf8.ValidString(name) {
		return errBadName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errBadName
		}
	}
	return nil
}

// uploaded is what a successful upload reports to the page.
type uploaded struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Replaced bool   `json:"replaced,omitempty"`
}

// uploadMultipart receives the files of a multipart/form-data POST into the
// folder q names, one after the other as they stream in: nothing is
// buffered whole, in memory or on disk.
func (h *handler) uploadMultipart(q *request) {
	if !q.may(accounts.PermUpload, q.abs) {
		h.forbid(q, "upload")
		return
	}
	if !h.isDir(q) {
		return
	}
	mr, err := q.r.MultipartReader()
	if err != nil {
		http.Error(q.w, "400 expected multipart/form-data", http.StatusBadRequest)
		return
	}
	var done []uploaded
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			h.fail(q, "read upload", errors.Join(errBadUpload, err))
			return
		}
		// FileName strips any folder a client put in the name.
		name := part.FileName()
		if name == "" {
			part.Close()
			continue
		}
		abs := path.Join(q.abs, name)
		if h.refuseHidden(q, abs) {
			part.Close()
			return
		}
		n, replaced, err := h.receive(q, path.Join(q.name, name), abs, part)
		part.Close()
		if err != nil {
			h.fail(q, "upload", err)
			return
		}
		done = append(done, uploaded{Name: name, Size: n, Replaced: replaced})
	}
	if len(done) == 0 {
		http.Error(q.w, "400 no file in upload", http.StatusBadRequest)
		return
	}
	h.answer(q, http.StatusCreated, done)
}

// put receives a request body as the file q names (curl -T, wget
// --method=PUT).
func (h *handler) put(q *request) {
	if !q.may(accounts.PermUpload, q.abs) {
		h.forbid(q, "upload")
		return
	}
	if strings.HasSuffix(q.r.URL.Path, "/") || q.name == "." {
		http.Error(q.w, "400 PUT needs a file name", http.StatusBadRequest)
		return
	}
	n, replaced, err := h.receive(q, q.name, q.abs, q.r.Body)
	if err != nil {
		h.fail(q, "upload", err)
		return
	}
	status := http.StatusCreated
	if replaced {
		status = http.StatusOK
	}
	h.answer(q, status, []uploaded{{Name: path.Base(q.abs), Size: n, Replaced: replaced}})
}

// receive streams body into the file name: into a temporary file beside
// it first, renamed over name only once complete, so a visitor never sees
// half a file and a cut upload leaves nothing behind. It goes through the
// FTP engine's commit rule (ftp.BeginUpload), so an HTTP and an FTP upload
// of one name are decided and counted by one rule: an existing name is
// refused (fs.ErrExist) unless the session may overwrite, and that is
// decided by the rename that commits, not by a look before it.
func (h *handler) receive(q *request, name, abs string, body io.Reader) (n int64, replaced bool, err error) {
	start := time.Now()
	if err := checkName(path.Base(name)); err != nil {
		return 0, false, err
	}
	if !q.may(accounts.PermUpload, abs) {
		return 0, false, errForbidden
	}
	mayOverwrite := q.may(accounts.PermOverwrite, abs)
	// A look first only spares the visitor sending a body bound to be
	// refused; the commit decides.
	old, err := ftp.StatL(q.ctx, h.fsys, name)
	switch {
	case err == nil && (old.IsDir() || !mayOverwrite):
		return 0, false, fs.ErrExist
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return 0, false, err
	}
	quota := q.sess.Quota()
	up, err := ftp.BeginUpload(q.ctx, h.fsys, quota, name, true, mayOverwrite)
	if err != nil {
		return 0, false, err
	}
	bg := context.WithoutCancel(q.ctx)
	qw := newQuotaWriter(q.ctx, quota, nil)
	fail := func(err error) (int64, bool, error) {
		if derr := up.Discard(bg, qw.committed); errors.Is(derr, ftp.ErrNotRecorded) {
			ftp.RepairUsage(h.fsys, quota, h.log, "discard upload "+abs, derr)
		} else if derr != nil {
			h.log.Error("discard upload", "path", abs, "err", derr)
		}
		h.emit(Event{Kind: EventUpload, Remote: q.remote, User: q.user.Name, Path: abs, Bytes: n, Duration: time.Since(start), Err: err})
		return 0, false, err
	}
	f, err := up.Create(q.ctx, false)
	if err != nil {
		return fail(err)
	}
	qw.w = f
	if err := up.Credit(qw.ctx); err != nil {
		return fail(err)
	}
	n, err = io.CopyBuffer(qw, body, make([]byte, copyBuffer))
	if cerr := qw.commitChunk(); err == nil {
		err = cerr
	}
	if qw.uncounted != nil {
		// Written, and maybe not counted: only a count can tell.
		ftp.RepairUsage(h.fsys, quota, h.log, "upload "+abs, qw.uncounted)
	}
	if err != nil {
		if errors.Is(err, vfs.ErrNoSpace) {
			err = errors.Join(errNoSpace, err)
		}
		return fail(err)
	}
	replaced, err = up.Commit(bg, qw.committed)
	if errors.Is(err, ftp.ErrNotRecorded) {
		ftp.RepairUsage(h.fsys, quota, h.log, "upload "+abs, err)
	}
	if errors.Is(err, ftp.ErrCommitted) {
		err = nil
	}
	if err != nil {
		h.emit(Event{Kind: EventUpload, Remote: q.remote, User: q.user.Name, Path: abs, Bytes: n, Duration: time.Since(start), Err: err})
		if errors.Is(err, ftp.ErrNotPlainFile) {
			err = errors.Join(fs.ErrExist, err)
		}
		return 0, false, err
	}
	h.emit(Event{Kind: EventUpload, Remote: q.remote, User: q.user.Name, Path: abs, Bytes: n, Duration: time.Since(start)})
	return n, replaced, nil
}

// quotaWriter checks every write against the session's quota before it
// reaches the disk, reserving room in chunks: checking only at the start
// would let one free byte admit an upload of any size. Each chunk is
// committed before the next is asked for, as the FTP engine's transfers do,
// so the account never looks busy after the upload and concurrent uploads
// of the same user wait for each other's room instead of being refused.
type quotaWriter struct {
	ctx       context.Context // marked as one writer (accounts.WithWriter)
	q         accounts.Quota  // nil: no quota
	w         io.Writer
	reserved  int64 // the current chunk's reservation
	inChunk   int64 // bytes written into the current chunk
	committed int64 // bytes of earlier chunks, already counted as usage
	// uncounted is the first failed Commit: its bytes are on disk, and
	// usage may lack them.
	uncounted error
}

func newQuotaWriter(ctx context.Context, q accounts.Quota, w io.Writer) *quotaWriter {
	return &quotaWriter{ctx: accounts.WithWriter(ctx), q: q, w: w}
}

func (qw *quotaWriter) Write(p []byte) (int, error) {
	if qw.q == nil {
		return qw.w.Write(p)
	}
	total := 0
	for len(p) > 0 {
		if qw.reserved == qw.inChunk {
			if err := qw.commitChunk(); err != nil {
				return total, err
			}
			g, err := qw.q.Reserve(qw.ctx, max(reserveChunk, int64(len(p))))
			if err == nil && g <= 0 {
				err = accounts.ErrQuotaExceeded
			}
			if err != nil {
				return total, err
			}
			qw.reserved = g
		}
		n := int(min(int64(len(p)), qw.reserved-qw.inChunk))
		m, err := qw.w.Write(p[:n])
		qw.inChunk += int64(m)
		total += m
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}

// commitChunk turns the current chunk's written bytes into usage and gives
// back the rest of its reservation.
func (qw *quotaWriter) commitChunk() error {
	if qw.reserved == 0 {
		return nil
	}
	// Quota bookkeeping must finish even when the visitor has gone.
	err := qw.q.Commit(context.WithoutCancel(qw.ctx), qw.reserved, qw.inChunk)
	qw.committed += qw.inChunk
	qw.reserved, qw.inChunk = 0, 0
	if err != nil && qw.uncounted == nil {
		qw.uncounted = err
	}
	return err
}

// mkdir makes a folder in the folder q names; its name comes from the form
// field "name".
func (h *handler) mkdir(q *request) {
	if !q.may(accounts.PermMkdir, q.abs) {
		h.forbid(q, "new folder")
		return
	}
	if !h.isDir(q) {
		return
	}
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, maxFormBytes)
	if err := q.r.ParseForm(); err != nil {
		http.Error(q.w, "400 bad form", http.StatusBadRequest)
		return
	}
	name := strings.TrimSpace(q.r.Form.Get("name"))
	if err := checkName(name); err != nil {
		h.fail(q, "mkdir", err)
		return
	}
	abs := path.Join(q.abs, name)
	if h.refuseHidden(q, abs) {
		return
	}
	if !q.may(accounts.PermMkdir, abs) {
		h.forbid(q, "new folder")
		return
	}
	err := h.fsys.Mkdir(q.ctx, path.Join(q.name, name), 0o755)
	h.emit(Event{Kind: EventMkdir, Remote: q.remote, User: q.user.Name, Path: abs, Err: err})
	if err != nil {
		h.fail(q, "mkdir", err)
		return
	}
	h.answer(q, http.StatusCreated, map[string]string{"name": name})
}

// delete removes the file or empty folder q names.
func (h *handler) delete(q *request) {
	if q.name == "." {
		h.forbid(q, "deleting the shared folder")
		return
	}
	fi, err := ftp.StatL(q.ctx, h.fsys, q.name)
	if err != nil {
		h.fail(q, "delete", err)
		return
	}
	need := accounts.PermDelete
	if fi.IsDir() {
		need = accounts.PermRmdir
	}
	if !q.may(need, q.abs) {
		h.forbid(q, "delete")
		return
	}
	if fi.IsDir() {
		err = h.fsys.Remove(q.ctx, q.name)
	} else {
		// The engine's rule: the removal is counted from what the name
		// held under its lock, and refused while an FTP session writes it
		// in place.
		_, err = ftp.RemoveFile(q.ctx, h.fsys, q.sess.Quota(), q.name)
		if err != nil && errors.Is(err, ftp.ErrNotRecorded) {
			ftp.RepairUsage(h.fsys, q.sess.Quota(), h.log, "delete "+q.abs, err)
			err = nil
		}
	}
	h.emit(Event{Kind: EventDelete, Remote: q.remote, User: q.user.Name, Path: q.abs, Err: err})
	if err != nil {
		if errors.Is(err, vfs.ErrNotEmpty) || errors.Is(err, vfs.ErrExist) {
			refuse(q.w, ftp.ReasonNotEmpty, "")
			return
		}
		h.fail(q, "delete", err)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

// isDir checks that q names a folder, answering when it does not.
func (h *handler) isDir(q *request) bool {
	fi, err := h.fsys.Stat(q.ctx, q.name)
	if err != nil {
		h.fail(q, "stat", err)
		return false
	}
	if !fi.IsDir() {
		refuse(q.w, ftp.ReasonNotFolder, "")
		return false
	}
	return true
}

// answer replies to a change: JSON for the page's script and for clients
// that ask for it, otherwise a redirect back to the folder, so the page's
// plain HTML forms work without JavaScript.
func (h *handler) answer(q *request, status int, v any) {
	if strings.Contains(q.r.Header.Get("Accept"), "application/json") || q.r.Method == http.MethodPut {
		q.w.Header().Set("Content-Type", "application/json")
		q.w.WriteHeader(status)
		json.NewEncoder(q.w).Encode(v)
		return
	}
	http.Redirect(q.w, q.r, escapePath(dirURL(q.abs)), http.StatusSeeOther)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
