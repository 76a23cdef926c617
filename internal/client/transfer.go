package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/units"
)

// Observer hears about each file a transfer moves. Implementations draw
// progress; the transfer only counts.
type Observer interface {
	// Begin starts a file of total bytes (-1 unknown), done of which are
	// already in place (a resumed transfer).
	Begin(name string, total, done int64) Tracker
}

// Planner is an Observer that wants to know, before the first file, how
// many files and bytes are coming (to show a total).
type Planner interface {
	Plan(files int, bytes int64)
}

// Tracker follows one file. Add may be called from any goroutine, but
// calls for one file come from one goroutine.
type Tracker interface {
	Add(n int64)
	End(r Result, err error)
}

// Result is what happened to one file.
type Result struct {
	Name     string // shown to the user: the path relative to what was asked for
	Local    string
	Remote   string
	Size     int64         // size of the complete file
	Moved    int64         // bytes that crossed the network this time
	Elapsed  time.Duration // time spent moving them
	Verified string        // "SHA-256", "size", ... or "" when nothing could be checked
	Skipped  string        // why nothing was moved ("identical: same size and SHA-256"), or ""
	// Unchecked says why no checksum was compared when Verified is "size"
	// or "": "" when the server offers none, else what the server refused
	// ("the server refused HASH: 550 ...").
	Unchecked string
	// Partial, for a download, is why the server marks its file as cut
	// short ("quota", from the MLSx fact x.wharf.partial): the copy matches
	// the server's, which is not the whole file its uploader sent.
	Partial string
}

// TransferOptions shape Get and Put.
type TransferOptions struct {
	Continue  bool // resume partial files
	Recursive bool // copy folders
	// Force replaces a destination that exists and differs. Without it (and
	// without Continue) such a file is left alone and reported with
	// ErrExists, file by file: one existing file does not stop a batch.
	Force    bool
	Parallel int // files at once; > 1 needs Dial
	Observer Observer
	// Dial opens another logged-in connection for parallel workers.
	Dial func(ctx context.Context) (*Conn, error)
	// Reconnect reopens a control connection that drops during the batch
	// (a server restart, a NAT that forgot the flow), with backoff, and
	// the batch goes on: the interrupted file resumes where it stopped.
	Reconnect bool
	// OnReconnect, when set, hears what happens: the connection was lost
	// and is being reopened, or an attempt failed.
	OnReconnect func(msg string)
	// BeforeVerify, when set, runs after the bytes moved and before the
	// checksum is compared. It exists for tests that tamper with a file to
	// prove the check catches it.
	BeforeVerify func(local, remote string)
}

type job struct {
	name, remote, local string
	size                int64 // -1 unknown
	mtime               time.Time
	partial             string // the server's x.wharf.partial fact
}

// partialFact reads x.wharf.partial from an MLSx line ("" when absent):
// wharf's server marks a file a quota refusal cut short.
func partialFact(raw string) string {
	facts, _, ok := strings.Cut(raw, " ")
	if !ok {
		return ""
	}
	for _, f := range strings.Split(facts, ";") {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "x.wharf.partial") {
			return Printable(v)
		}
	}
	return ""
}

// QuotaCutError is an upload the server's quota stopped part-way: Stored
// bytes of Size are on the server (the rest did not fit), or Stored < 0
// when the server did not say.
type QuotaCutError struct {
	Name         string
	Stored, Size int64
	Err          error
}

func (e *QuotaCutError) Unwrap() error { return e.Err }

func (e *QuotaCutError) Error() string {
	if e.Stored < 0 {
		return fmt.Sprintf("%s: cut short by the quota: %v", Printable(e.Name), e.Err)
	}
	return fmt.Sprintf("%s: cut short by the quota, %s of %s stored: %v", Printable(e.Name), units.FormatSize(e.Stored), units.FormatSize(e.Size), e.Err)
}

type nopObserver struct{}
type nopTracker struct{}

func (nopObserver) Begin(string, int64, int64) Tracker { return nopTracker{} }
func (nopTracker) Add(int64)                           {}
func (nopTracker) End(Result, error)                   {}

// ErrIsFolder reports a folder named where a file was expected: a folder
// without Recursive. It is a mistake in the command, not a failure.
var ErrIsFolder = errors.New("is a folder (use -r)")

// ErrExists reports a destination that exists and would be replaced:
// neither Force nor Continue was given. Nothing was moved for that file.
var ErrExists = errors.New("exists (-f replaces it, -c resumes it)")

// Get downloads remote (a file, or with Recursive a folder) to local.
//
// A file goes to local, or into it when local is an existing folder or ends
// in a separator; an empty local means its base name here (cp's rule).
//
// A folder follows rsync's explicit rule, which does not depend on what
// exists locally, so running the same command again (-c after an
// interruption) targets the same paths: "dir" is copied as local/dir
// (local is created when missing), "dir/" copies dir's contents into local.
// An empty local means ./dir either way.
//
// Files arrive as NAME.part and are renamed once verified.
func Get(ctx context.Context, c *Conn, remote, local string, o TransferOptions) ([]Result, error) {
	jobs, err := planAgain(ctx, c, o, func() ([]job, error) { return planGet(ctx, c, remote, local, o) })
	if err != nil {
		return nil, err
	}
	return run(ctx, c, jobs, o, getFile)
}

// GetAll downloads several remotes (files, or folders with Recursive) into
// the folder local ("" is here) as one job list, so Parallel applies across
// all of them and a Planner sees one total. A remote that cannot be planned
// (missing, a folder without Recursive) is reported in the joined error and
// the others still move.
func GetAll(ctx context.Context, c *Conn, remotes []string, local string, o TransferOptions) ([]Result, error) {
	if len(remotes) > 1 && local != "" && !strings.HasSuffix(local, string(filepath.Separator)) {
		local += string(filepath.Separator) // several files go into a folder
	}
	return runAll(ctx, c, remotes, func(r string) ([]job, error) { return planGet(ctx, c, r, local, o) }, o, getFile)
}

// runAll plans every source into one job list and runs it. A source that
// cannot be planned is reported in the joined error and the others still
// move; a broken connection stops the planning.
func runAll(ctx context.Context, c *Conn, sources []string, plan func(string) ([]job, error), o TransferOptions, fn fileFunc) ([]Result, error) {
	var jobs []job
	var errs []error
	for _, src := range sources {
		js, err := planAgain(ctx, c, o, func() ([]job, error) { return plan(src) })
		if err != nil {
			if c.Err() != nil {
				return nil, err
			}
			errs = append(errs, err)
			continue
		}
		jobs = append(jobs, js...)
	}
	res, err := run(ctx, c, jobs, o, fn)
	return res, errors.Join(append(errs, err)...)
}

func planGet(ctx context.Context, c *Conn, remote, local string, o TransferOptions) ([]job, error) {
	contents := strings.HasSuffix(remote, "/")
	if contents && strings.Trim(remote, "/") != "" {
		remote = strings.TrimRight(remote, "/")
	}
	st, err := c.Stat(ctx, remote)
	if err != nil {
		if KindOf(err) != KindUnsupported || c.Err() != nil {
			return nil, fmt.Errorf("get %s: %w", remote, err)
		}
		// The server has neither MLST nor SIZE, and remote is not a
		// folder it would CWD into: all that is left is to ask for it. A
		// missing file then fails at RETR with the server's own reply.
		st = Entry{Name: path.Base(remote), Type: TypeFile, Size: -1}
	}
	base := path.Base(path.Clean("/" + remote))
	if base == "/" {
		base = ""
	}
	if st.Type != TypeDir {
		target := local
		if strings.HasSuffix(local, string(filepath.Separator)) {
			if err := os.MkdirAll(local, 0o755); err != nil {
				return nil, fmt.Errorf("get %s: %w", remote, err)
			}
		}
		if fi, err := os.Stat(local); local == "" || err == nil && fi.IsDir() {
			target = filepath.Join(cmpOr(local, "."), base)
		}
		return []job{{name: base, remote: remote, local: target, size: st.Size, mtime: st.ModTime, partial: partialFact(st.Raw)}}, nil
	}
	if !o.Recursive {
		return nil, fmt.Errorf("get %s: %w", remote, ErrIsFolder)
	}
	target := cmpOr(local, ".")
	if !contents {
		target = filepath.Join(target, base)
	}
	var jobs []job
	if err := walkRemote(ctx, c, remote, target, cmpOr(base, "."), &jobs); err != nil {
		return nil, err
	}
	return jobs, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func walkRemote(ctx context.Context, c *Conn, remote, local, name string, jobs *[]job) error {
	if err := os.MkdirAll(local, 0o755); err != nil {
		return fmt.Errorf("get %s: %w", remote, err)
	}
	entries, err := c.List(ctx, remote)
	if err != nil {
		return fmt.Errorf("list %s: %w", remote, err)
	}
	for _, e := range entries {
		if e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\\") || !filepath.IsLocal(e.Name) {
			continue // a listing must not steer files outside the target folder
		}
		r, l, n := path.Join(remote, e.Name), filepath.Join(local, e.Name), path.Join(name, e.Name)
		switch e.Type {
		case TypeDir:
			if err := walkRemote(ctx, c, r, l, n, jobs); err != nil {
				return err
			}
		case TypeFile, TypeLink:
			size := e.Size
			if e.Type == TypeLink {
				size = -1
			}
			*jobs = append(*jobs, job{name: n, remote: r, local: l, size: size, mtime: e.ModTime, partial: partialFact(e.Raw)})
		}
	}
	return nil
}

// Put uploads local (a file, or with Recursive a folder) to remote.
//
// A file goes to remote, or into it when remote is empty, ends in "/" or
// names an existing folder (cp's rule).
//
// A folder follows rsync's explicit rule, as Get does, so a second run of
// the same command targets the same paths: "tree" is copied as
// remote/tree (remote "" is the login folder), "tree/" copies tree's
// contents into remote.
func Put(ctx context.Context, c *Conn, local, remote string, o TransferOptions) ([]Result, error) {
	jobs, err := planAgain(ctx, c, o, func() ([]job, error) { return planPut(ctx, c, local, remote, o) })
	if err != nil {
		return nil, err
	}
	return run(ctx, c, jobs, o, putFile)
}

// PutAll uploads several locals (files, or folders with Recursive) into the
// folder remote ("" is the current one) as one job list, as GetAll does.
func PutAll(ctx context.Context, c *Conn, locals []string, remote string, o TransferOptions) ([]Result, error) {
	if len(locals) > 1 && remote != "" && !strings.HasSuffix(remote, "/") {
		remote += "/" // several files go into a folder
	}
	return runAll(ctx, c, locals, func(l string) ([]job, error) { return planPut(ctx, c, l, remote, o) }, o, putFile)
}

func planPut(ctx context.Context, c *Conn, local, remote string, o TransferOptions) ([]job, error) {
	fi, err := os.Stat(local)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	base := filepath.Base(local)
	if !fi.IsDir() {
		target := remote
		if remote == "" || strings.HasSuffix(remote, "/") {
			target = path.Join(remote, base)
		} else if st, err := c.Stat(ctx, remote); err == nil && st.Type == TypeDir {
			target = path.Join(remote, base)
		} else if c.Err() != nil {
			return nil, c.Err()
		}
		return []job{{name: base, remote: target, local: local, size: fi.Size(), mtime: fi.ModTime()}}, nil
	}
	if !o.Recursive {
		return nil, fmt.Errorf("put %s: %w", local, ErrIsFolder)
	}
	target := remote
	if !strings.HasSuffix(local, string(filepath.Separator)) && !strings.HasSuffix(local, "/") {
		target = path.Join(remote, base)
	}
	var jobs []job
	err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(local, p)
		r := path.Join(target, filepath.ToSlash(rel))
		if d.IsDir() {
			if r == "." || r == "/" {
				return nil // the login folder, or the root: there already
			}
			if err := ensureRemoteDir(ctx, c, r); err != nil {
				return fmt.Errorf("create %s: %w", r, err)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		jobs = append(jobs, job{name: path.Join(base, filepath.ToSlash(rel)), remote: r, local: p, size: info.Size(), mtime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", local, err)
	}
	return jobs, nil
}

func ensureRemoteDir(ctx context.Context, c *Conn, dir string) error {
	merr := c.Mkdir(ctx, dir)
	if merr == nil {
		return nil
	}
	if st, err := c.Stat(ctx, dir); err == nil && st.Type == TypeDir {
		return nil
	}
	return c.MkdirAll(ctx, dir)
}

// fileFunc moves one file on *cp, and may replace *cp by a new connection
// when the server closed it (see verifyReconnecting); the worker then owns
// and goes on with the new one.
type fileFunc func(ctx context.Context, cp **Conn, j job, o TransferOptions) (Result, error)

// run moves the jobs, on Parallel connections when asked (the first is c,
// the others dialed), and reports every file's outcome.
func run(ctx context.Context, c *Conn, jobs []job, o TransferOptions, fn fileFunc) ([]Result, error) {
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if pl, ok := o.Observer.(Planner); ok {
		var bytes int64
		for _, j := range jobs {
			bytes += max(j.size, 0)
		}
		pl.Plan(len(jobs), bytes)
	}
	workers := max(o.Parallel, 1)
	if o.Dial == nil {
		workers = 1
	}
	workers = min(workers, len(jobs))
	results := make([]Result, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := c
			defer func() {
				if conn != c {
					conn.Quit(context.WithoutCancel(ctx))
				}
			}()
			if w > 0 {
				var err error
				if conn, err = o.Dial(ctx); err != nil {
					conn = c
					return // the other workers carry on
				}
			}
			gaveUp := false
			for i := range next {
				prev := conn
				results[i], errs[i] = fn(ctx, &conn, jobs[i], o)
				if prev != conn && prev != c {
					prev.Close()
				}
				if errs[i] != nil && o.Reconnect && conn.Err() == nil && ctx.Err() == nil && transferCut(errs[i]) {
					// A session dropped in mid-file (a kick, a restart)
					// often answers 426 on its way out: the EOF behind it
					// is not read yet. Ask, so a dead connection shows.
					conn.Noop(ctx)
				}
				for errs[i] != nil && !gaveUp && o.Reconnect && conn.Err() != nil && ctx.Err() == nil {
					if err := reopen(ctx, conn, o); err != nil {
						gaveUp = true
						errs[i] = fmt.Errorf("%w (%v)", errs[i], err)
						break
					}
					// The same file again; resumed when bytes had moved
					// (its destination was checked the first time).
					oj := o
					oj.Continue = o.Continue || results[i].Moved > 0
					prev := conn
					results[i], errs[i] = fn(ctx, &conn, jobs[i], oj)
					if prev != conn && prev != c {
						prev.Close()
					}
				}
				if conn.Err() == nil {
					continue
				}
				// 421: the server closed the connection on purpose (a
				// restart); the next files go on a new one.
				if KindOf(conn.Err()) == KindConnection && o.Dial != nil && ctx.Err() == nil {
					if nc, err := redial(ctx, conn, o); err == nil {
						if conn != c {
							conn.Close()
						}
						conn = nc
						continue
					}
				}
				if w > 0 {
					return
				}
			}
		}()
	}
feed:
	for i := range jobs {
		select {
		case next <- i:
		case <-ctx.Done():
			for k := i; k < len(jobs); k++ {
				errs[k] = fmt.Errorf("%s: %w", jobs[k].name, ctx.Err())
			}
			break feed
		}
	}
	close(next)
	wg.Wait()
	return results, errors.Join(errs...)
}

// transferCut reports a transfer ended by a transient 4xx reply (426
// connection closed, 421, 425, 451): the kind a dropping session sends.
func transferCut(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Code >= 400 && fe.Code < 500
}

// reopen reconnects conn for a batch, telling o.OnReconnect.
func reopen(ctx context.Context, conn *Conn, o TransferOptions) error {
	say := func(string) {}
	if o.OnReconnect != nil {
		say = o.OnReconnect
	}
	say(fmt.Sprintf("connection lost (%s); reconnecting", PrintableText(conn.Err().Error())))
	err := redialInPlace(ctx, conn, func(attempt int, err error) {
		say(fmt.Sprintf("reconnect attempt %d failed: %s", attempt, PrintableText(err.Error())))
	})
	if err == nil {
		say("reconnected; the batch goes on")
	}
	return err
}

// planAgain runs plan, and once more after reopening c when the control
// connection dropped while it listed (Reconnect only).
func planAgain[T any](ctx context.Context, c *Conn, o TransferOptions, plan func() (T, error)) (T, error) {
	v, err := plan()
	if err != nil && o.Reconnect && c.Err() != nil && ctx.Err() == nil {
		if rerr := reopen(ctx, c, o); rerr != nil {
			return v, fmt.Errorf("%w (%v)", err, rerr)
		}
		return plan()
	}
	return v, err
}

// counter hands the bytes that pass to a Tracker.
type counter struct {
	w  io.Writer
	r  io.Reader
	tr Tracker
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.tr.Add(int64(n))
	return n, err
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.tr.Add(int64(n))
	return n, err
}

func sameTime(a, b time.Time) bool {
	return !a.IsZero() && !b.IsZero() && a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// identical decides whether local and remote already hold the same bytes:
// same size and checksum, else same size and time.
func identical(ctx context.Context, c *Conn, local, remote string, size int64, ltime, rtime time.Time) string {
	fi, err := os.Stat(local)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return ""
	}
	if c.HashAlgo() != "" {
		if algo, rsum, err := c.Hash(ctx, remote); err == nil {
			if lsum, err := FileHash(algo, local); err == nil && lsum == rsum {
				return "identical: same size and " + algo
			}
			return ""
		}
	}
	if sameTime(ltime, rtime) {
		return "identical: same size and time"
	}
	return ""
}

func getFile(ctx context.Context, cp **Conn, j job, o TransferOptions) (res Result, err error) {
	c := *cp
	res = Result{Name: j.name, Local: j.local, Remote: j.remote, Size: j.size}
	offset := int64(0)
	part := j.local + ".part"
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrExists) {
			err = &PartialError{Name: j.name, Part: part, Done: offset + res.Moved, Size: j.size, Err: err}
		}
	}()
	if j.size < 0 {
		if n, err := c.Size(ctx, j.remote); err == nil {
			j.size, res.Size = n, n
		}
	}
	if j.mtime.IsZero() && c.Has("MDTM") {
		j.mtime, _ = c.MDTM(ctx, j.remote)
	}
	if o.Continue {
		if fi, err := os.Stat(part); err == nil && fi.Mode().IsRegular() && (j.size < 0 || fi.Size() <= j.size) {
			offset = fi.Size()
		}
	}
	// What is already here and identical is not replaced nor refused: there
	// is nothing to do. -f alone means "transfer it again".
	if (o.Recursive || o.Continue || !o.Force) && offset == 0 && j.size >= 0 {
		if fi, err := os.Stat(j.local); err == nil {
			if why := identical(ctx, c, j.local, j.remote, j.size, fi.ModTime(), j.mtime); why != "" {
				res.Skipped = why
				o.Observer.Begin(j.name, j.size, j.size).End(res, nil)
				return res, nil
			}
		}
	}
	if !o.Force && !o.Continue {
		if _, err := os.Lstat(j.local); err == nil {
			return refuse(o, j, res, "get "+j.local)
		}
	}
	tr := o.Observer.Begin(j.name, j.size, offset)
	defer func() { tr.End(res, err) }()
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	_, statErr := os.Lstat(part)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	start := time.Now()
	if j.size < 0 || offset < j.size || offset == 0 {
		res.Moved, err = c.Retr(ctx, j.remote, offset, &counter{w: f, tr: tr})
	}
	res.Elapsed = time.Since(start)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("get %s: %w", j.remote, cerr)
	}
	if err != nil {
		if created && res.Moved == 0 {
			// Refused before a byte came (a missing file on a server that
			// could not be asked beforehand): nothing to resume.
			os.Remove(part)
		}
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	if o.BeforeVerify != nil {
		o.BeforeVerify(part, j.remote)
	}
	var nc *Conn
	res.Verified, res.Unchecked, nc, err = verifyReconnecting(ctx, c, o, part, j.remote)
	if nc != nil {
		*cp = nc
	}
	res.Partial = j.partial
	if fi, serr := os.Stat(part); serr == nil {
		res.Size = fi.Size()
	}
	if err != nil {
		if errors.Is(err, ErrChecksum) {
			os.Remove(part) // its bytes are wrong: a rerun must start over
		}
		return res, fmt.Errorf("get %s: %w", j.remote, err)
	}
	if err := place(part, j.local, o.Force || o.Continue); err != nil {
		if errors.Is(err, ErrExists) {
			// Appeared while the bytes moved: the verified copy stays as
			// .part (get -c finds it complete) and the other file is kept.
			res.Skipped = ErrExists.Error()
		}
		return res, fmt.Errorf("get %s: %w", j.local, err)
	}
	if !j.mtime.IsZero() {
		os.Chtimes(j.local, j.mtime, j.mtime) // lets a later get -r skip it by time
	}
	return res, nil
}

// refuse reports a file left alone because its destination exists.
func refuse(o TransferOptions, j job, res Result, what string) (Result, error) {
	res.Skipped = ErrExists.Error()
	err := fmt.Errorf("%s: %w", what, ErrExists)
	o.Observer.Begin(j.name, j.size, 0).End(res, err)
	return res, err
}

// place gives the verified part its final name. Without replace it links
// rather than renames, so a file created at that name meanwhile (by anyone)
// is never replaced: link fails on an existing name, atomically, where a
// look followed by a rename could race. A file system without hard links
// falls back to that look and rename.
func place(part, final string, replace bool) error {
	if replace {
		return os.Rename(part, final)
	}
	err := os.Link(part, final)
	switch {
	case err == nil:
		return os.Remove(part)
	case errors.Is(err, fs.ErrExist):
		return ErrExists
	}
	if _, serr := os.Lstat(final); serr == nil {
		return ErrExists
	}
	return os.Rename(part, final)
}

func putFile(ctx context.Context, cp **Conn, j job, o TransferOptions) (res Result, err error) {
	c := *cp
	res = Result{Name: j.name, Local: j.local, Remote: j.remote, Size: j.size}
	offset := int64(0)
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrExists) {
			pe := &PartialError{Upload: true, Name: j.name, Done: offset + res.Moved, Size: j.size, Err: err}
			err = pe
		}
	}()
	// FTP has no exclusive create: another client may still store the same
	// name between this look and the STOR. The look is what protects a
	// person from their own typo, which is what this is for.
	if rsize, serr := c.Size(ctx, j.remote); serr == nil {
		if rsize == j.size && (o.Continue || o.Recursive || !o.Force) {
			var rtime time.Time
			if c.Has("MDTM") {
				rtime, _ = c.MDTM(ctx, j.remote)
			}
			if why := identical(ctx, c, j.local, j.remote, j.size, j.mtime, rtime); why != "" {
				res.Skipped = why
				o.Observer.Begin(j.name, j.size, j.size).End(res, nil)
				return res, nil
			}
		}
		switch {
		case o.Continue && rsize < j.size:
			offset = rsize
		case !o.Force && !o.Continue:
			return refuse(o, j, res, "put "+j.remote)
		}
	} else if c.Err() != nil {
		return res, fmt.Errorf("put %s: %w", j.local, serr)
	} else if KindOf(serr) == KindUnsupported && !o.Force && !o.Continue {
		// No SIZE: a listing entry is the other way to know.
		if st, err := c.Stat(ctx, j.remote); err == nil && st.Type != TypeDir {
			return refuse(o, j, res, "put "+j.remote)
		}
	}
	tr := o.Observer.Begin(j.name, j.size, offset)
	defer func() { tr.End(res, err) }()
	f, err := os.Open(j.local)
	if err != nil {
		return res, fmt.Errorf("put %s: %w", j.local, err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return res, fmt.Errorf("put %s: %w", j.local, err)
	}
	start := time.Now()
	res.Moved, err = c.Stor(ctx, j.remote, offset, &counter{r: f, tr: tr})
	res.Elapsed = time.Since(start)
	if err != nil && KindOf(err) == KindQuota && c.Err() == nil {
		// The server keeps what fit (wharf's policy, and most servers'):
		// say how much, so the summary shows this file is incomplete.
		qe := &QuotaCutError{Name: j.name, Stored: -1, Size: j.size, Err: err}
		if n, serr := c.Size(ctx, j.remote); serr == nil {
			qe.Stored = n
		}
		return res, fmt.Errorf("put %s: %w", j.local, qe)
	}
	if err != nil {
		return res, fmt.Errorf("put %s: %w", j.local, err)
	}
	if o.BeforeVerify != nil {
		o.BeforeVerify(j.local, j.remote)
	}
	var nc *Conn
	res.Verified, res.Unchecked, nc, err = verifyReconnecting(ctx, c, o, j.local, j.remote)
	if nc != nil {
		*cp, c = nc, nc
	}
	if err != nil {
		return res, fmt.Errorf("put %s: %w", j.local, err)
	}
	if !j.mtime.IsZero() {
		c.SetModTime(ctx, j.remote, j.mtime) // best effort: only helps a later skip by time
	}
	return res, nil
}

// verify compares local and remote end to end with the strongest checksum
// the server offers, else by size. It returns what it compared and, when
// that is not a checksum although the server offers one, what it refused.
func verify(ctx context.Context, c *Conn, local, remote string) (algo, unchecked string, err error) {
	if c.HashAlgo() != "" {
		algo, rsum, err := c.Hash(ctx, remote)
		if err == nil {
			lsum, err := FileHash(algo, local)
			if err != nil {
				return "", "", err
			}
			if lsum != rsum {
				return algo, "", fmt.Errorf("%w: %s is %s here but %s on the server", ErrChecksum, algo, lsum, rsum)
			}
			return algo, "", nil
		}
		if c.Err() != nil {
			return "", "", err
		}
		// Offered but refused (a server limit on hashing big files, a user
		// without read rights): size is still worth checking.
		unchecked = "the server refused its checksum"
		var fe *Error
		if errors.As(err, &fe) {
			unchecked = fmt.Sprintf("the server refused its checksum: %d %s", fe.Code, Printable(strings.SplitN(fe.Msg, "\n", 2)[0]))
		}
	}
	rsize, err := c.Size(ctx, remote)
	if err != nil {
		if c.Err() != nil {
			return "", "", err
		}
		return "", unchecked, nil
	}
	fi, err := os.Stat(local)
	if err != nil {
		return "", "", fmt.Errorf("verify: %w", err)
	}
	if fi.Size() != rsize {
		return "size", "", fmt.Errorf("%w: %d bytes here but %d on the server", ErrChecksum, fi.Size(), rsize)
	}
	return "size", unchecked, nil
}
