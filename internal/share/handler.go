package share

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/vfs"
)

// seenLimit bounds the memory of which visitors were already announced; when
// full it is forgotten and visitors are announced again, which is harmless.
const seenLimit = 4096

// seenFor is how long a visitor stays announced: a phone coming back after a
// break shows up again in the terminal.
const seenFor = 10 * time.Minute

// HandlerOptions configures Handler. Auth is required; the rest is optional.
type HandlerOptions struct {
	// Auth logs every request in: Basic credentials when the request has
	// them, accounts.AnonymousUser with an empty password when it has none.
	// The session user's Perm bits (User.PermsFor the target path) decide
	// what the request may do, as the FTP engine decides.
	Auth accounts.Authenticator
	// Realm is shown by browsers in their login prompt.
	Realm string
	// Logger receives raw errors; visitors only ever see a status line.
	Logger *slog.Logger
	// Events, when set, is called for each visitor's first request (EventLogin)
	// and each completed or failed transfer or change. It must not block.
	Events func(Event)
	// LoginFailDelay is how long a wrong password waits for its 401
	// (0: one second; negative: no delay). BanAfter failed logins from one
	// address ban it for BanFor (0: 10 and 15 minutes; BanAfter negative:
	// never), answering 429 meanwhile: the FTP engine's defaults.
	LoginFailDelay time.Duration
	BanAfter       int
	BanFor         time.Duration
	// HideDotNames hides names starting with a dot from folder pages and
	// refuses every path through one, as ftp.Config.HideDotNames does.
	HideDotNames bool
}

// handler serves one vfs.Storage over HTTP. Its fields are immutable after
// construction except those guarded by mu.
type handler struct {
	fsys   vfs.Storage
	auth   accounts.Authenticator
	realm  string
	log    *slog.Logger
	events func(Event)
	page   *page
	delay  time.Duration // wait before answering a wrong password
	guard  *guard
	// gate, when set, runs each Basic-auth password check under another
	// protocol's rules (the share's FTP engine, ftp.Server.GuardLogin):
	// its per-address turn, its growing delay and its failure count, so
	// one address gets one queue of guesses over both protocols.
	gate func(ctx context.Context, ip netip.Addr, user string, check func(context.Context) error, failed func(error) bool) error
	// hideDot: dot names are hidden and refused (HandlerOptions.HideDotNames).
	hideDot bool

	mu   sync.Mutex
	seen map[string]time.Time // guarded by mu; visitor key -> last announced
}

// Handler serves fsys over HTTP: directory pages, downloads with Range
// support, and, when the session's permissions allow, uploads (multipart
// POST to a folder, or PUT of a file), new folders and deletes.
//
// Every URL path is cleaned by vfs.Resolve and every file reached through
// fsys, so nothing outside its root is reachable.
func Handler(fsys vfs.Storage, opts HandlerOptions) http.Handler {
	return newHandler(fsys, opts, nil)
}

// newHandler is Handler with the ban list g shared with another protocol;
// nil makes one from opts.
func newHandler(fsys vfs.Storage, opts HandlerOptions, g *guard) *handler {
	if opts.Auth == nil {
		panic("share.Handler: nil Authenticator")
	}
	h := &handler{
		fsys:    fsys,
		auth:    opts.Auth,
		realm:   opts.Realm,
		log:     opts.Logger,
		events:  opts.Events,
		seen:    make(map[string]time.Time),
		hideDot: opts.HideDotNames,
	}
	p, err := loadPage()
	if err != nil {
		// The page is embedded at build time; failing here is a build bug.
		panic("share.Handler: embedded page: " + err.Error())
	}
	h.page = p
	switch {
	case opts.LoginFailDelay == 0:
		h.delay = defaultLoginFailDelay
	case opts.LoginFailDelay > 0:
		h.delay = opts.LoginFailDelay
	}
	after, span := opts.BanAfter, opts.BanFor
	if after == 0 {
		after = defaultBanAfter
	}
	if span <= 0 {
		span = defaultBanFor
	}
	h.guard = g
	if h.guard == nil {
		h.guard = newGuard(after, span)
	}
	if h.realm == "" {
		h.realm = "wharf share"
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// request is one authenticated request: what every operation needs.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	sess   accounts.Session
	user   accounts.User
	remote netip.AddrPort
	abs    string // client-visible absolute path, cleaned
	name   string // root-relative name for the FS
}

// may reports whether the session may do p at the client-visible path abs,
// by the same per-folder rules the FTP engine applies.
func (q *request) may(p accounts.Perm, abs string) bool {
	return q.user.PermsFor(abs).Has(p)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	remote := remoteAddr(r)
	abs, name, err := vfs.Resolve("/", r.URL.Path)
	if err != nil || !strings.HasPrefix(r.URL.Path, "/") {
		http.Error(w, "400 bad path", http.StatusBadRequest)
		return
	}
	if slices.ContainsFunc(strings.Split(abs, "/"), ftp.IsTempName) {
		// An upload in progress (of either protocol) is no file yet:
		// never served, replaced or deleted, as on FTP.
		refuse(w, ftp.ReasonNotFound, "")
		return
	}
	sess, user, ok := h.login(w, r, remote)
	if !ok {
		return
	}
	defer sess.Close()
	q := &request{w: w, r: r, ctx: r.Context(), sess: sess, user: user, remote: remote, abs: abs, name: name}
	if h.refuseHidden(q, abs) {
		return
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.get(q)
	case http.MethodPost:
		if !h.sameOrigin(q) {
			return
		}
		switch r.URL.Query().Get("op") {
		case "mkdir":
			h.mkdir(q)
		case "":
			h.uploadMultipart(q)
		default:
			http.Error(w, "400 unknown operation", http.StatusBadRequest)
		}
	case http.MethodPut:
		if !h.sameOrigin(q) {
			return
		}
		h.put(q)
	case http.MethodDelete:
		if !h.sameOrigin(q) {
			return
		}
		h.delete(q)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, DELETE")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
	}
}

// login authenticates r through the Authenticator. On refusal it has
// already answered and returns ok false.
func (h *handler) login(w http.ResponseWriter, r *http.Request, remote netip.AddrPort) (accounts.Session, accounts.User, bool) {
	if h.guard.banned(remote.Addr(), time.Now()) {
		h.refuseBanned(w)
		return nil, accounts.User{}, false
	}
	name, pass, hasCreds := r.BasicAuth()
	if !hasCreds {
		// The name FTP clients send for anonymous access, so one
		// Authenticator decides for both protocols.
		name, pass = accounts.AnonymousUser, ""
	}
	if hasCreds {
		// One check at a time per address, the failure delay included, and
		// a bounded queue: a burst of guesses gets 429s, not verifications.
		leave, err := h.guard.enter(r.Context(), remote.Addr())
		if err != nil {
			h.log.Info("http login refused", "user", name, "remote", remote.String(), "err", err)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "429 too many login attempts; try again later", http.StatusTooManyRequests)
			return nil, accounts.User{}, false
		}
		defer leave()
		if h.guard.banned(remote.Addr(), time.Now()) {
			// Banned while this request waited for its turn.
			h.refuseBanned(w)
			return nil, accounts.User{}, false
		}
	}
	info := accounts.LoginInfo{Remote: remote.Addr(), TLS: r.TLS != nil}
	var (
		sess     accounts.Session
		checkErr error
		checked  bool
	)
	check := func(ctx context.Context) error {
		checked = true
		sess, checkErr = h.auth.Login(ctx, name, pass, info)
		return checkErr
	}
	var err error
	gated := hasCreds && h.gate != nil
	if gated {
		err = h.gate(r.Context(), remote.Addr(), name, check, func(err error) bool {
			return !errors.Is(err, errBanned) && !errors.Is(err, accounts.ErrUnavailable) && r.Context().Err() == nil
		})
		if errors.Is(err, ftp.ErrBanned) {
			// Banned by the engine's count, before this check or by it.
			if checked && checkErr != nil {
				h.log.Info("http login refused", "user", name, "remote", remote.String(), "err", checkErr)
				h.emit(Event{Kind: EventLoginFailed, Remote: remote, User: name, Err: checkErr})
			}
			h.guard.ban(remote.Addr(), time.Now())
			h.refuseBanned(w)
			return nil, accounts.User{}, false
		}
	} else {
		err = check(r.Context())
	}
	if errors.Is(err, errBanned) {
		// Banned by the other protocol since the check above.
		h.refuseBanned(w)
		return nil, accounts.User{}, false
	}
	if err != nil {
		h.log.Info("http login refused", "user", name, "remote", remote.String(), "err", err)
		unavailable := errors.Is(err, accounts.ErrUnavailable) || r.Context().Err() != nil
		if hasCreds && !unavailable {
			// Every refusal of a password, including those that come only
			// after a correct one (too many sessions, TLS required,
			// disabled, expired, address), is a 401 after the same delay:
			// a distinct answer would confirm a guessed password.
			if h.guard.failed(remote.Addr(), time.Now()) {
				h.log.Warn("http address banned after failed logins", "remote", remote.Addr().String())
			}
			if h.delay > 0 && !gated {
				// (A gated check waited out the gate's delay already.)
				n := max(h.guard.failureCount(remote.Addr()), 1)
				t := time.NewTimer(min(h.delay<<min(n-1, 10), maxLoginFailDelay))
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
				}
			}
			h.emit(Event{Kind: EventLoginFailed, Remote: remote, User: name, Err: err})
			w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.ReplaceAll(h.realm, `"`, "'")+`", charset="UTF-8"`)
			http.Error(w, "401 login required", http.StatusUnauthorized)
			return nil, accounts.User{}, false
		}
		switch {
		case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrNotFound):
			w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.ReplaceAll(h.realm, `"`, "'")+`", charset="UTF-8"`)
			http.Error(w, "401 login required", http.StatusUnauthorized)
		case errors.Is(err, accounts.ErrTooManySessions):
			w.Header().Set("Retry-After", "5")
			http.Error(w, "503 too many sessions", http.StatusServiceUnavailable)
		case errors.Is(err, accounts.ErrTLSRequired):
			http.Error(w, "403 this account requires https", http.StatusForbidden)
		case errors.Is(err, accounts.ErrDisabled), errors.Is(err, accounts.ErrExpired),
			errors.Is(err, accounts.ErrAddressRefused):
			http.Error(w, "403 login refused", http.StatusForbidden)
		case errors.Is(err, accounts.ErrUnavailable):
			w.Header().Set("Retry-After", "5")
			http.Error(w, "503 account database unavailable", http.StatusServiceUnavailable)
		default:
			http.Error(w, "500 login failed", http.StatusInternalServerError)
		}
		if hasCreds {
			h.emit(Event{Kind: EventLoginFailed, Remote: remote, User: name, Err: err})
		}
		return nil, accounts.User{}, false
	}
	user := sess.User()
	h.announce(remote, user.Name)
	return sess, user, true
}

func (h *handler) refuseBanned(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(h.guard.span.Seconds())))
	http.Error(w, "429 too many failed logins; try again later", http.StatusTooManyRequests)
}

// announce emits EventLogin the first time a visitor (address and user) is
// seen within seenFor: HTTP has no session to mark "connected".
func (h *handler) announce(remote netip.AddrPort, user string) {
	if h.events == nil {
		return
	}
	key := remote.Addr().String() + "\x00" + user
	now := time.Now()
	h.mu.Lock()
	last, ok := h.seen[key]
	fresh := !ok || now.Sub(last) > seenFor
	if fresh {
		if len(h.seen) >= seenLimit {
			clear(h.seen)
		}
		h.seen[key] = now
	}
	h.mu.Unlock()
	if fresh {
		h.emit(Event{Kind: EventLogin, Remote: remote, User: user})
	}
}

func (h *handler) emit(e Event) {
	if h.events == nil {
		return
	}
	e.Proto = "http"
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	h.events(e)
}

// sameOrigin refuses a state-changing request sent by a page from another
// site: Basic credentials are replayed by the browser to any site's form, so
// without this a web page could upload into the share behind its visitor's
// back. Clients that send no Origin (curl, wget, scripts) are not browsers
// acting for someone else.
func (h *handler) sameOrigin(q *request) bool {
	origin := q.r.Header.Get("Origin")
	if origin == "" {
		if site := q.r.Header.Get("Sec-Fetch-Site"); site == "" || site == "same-origin" || site == "none" {
			return true
		}
	} else if u, err := url.Parse(origin); err == nil && strings.EqualFold(u.Host, q.r.Host) {
		return true
	}
	http.Error(q.w, "403 cross-site request refused", http.StatusForbidden)
	return false
}

// fail answers an error from the FS with a status that says no more than
// needed: anything that is not plainly "missing" or "forbidden" (an escaping
// symlink, a bad name) is reported as missing, and the raw text is logged.
func (h *handler) fail(q *request, op string, err error) {
	h.log.Info("http "+op+" failed", "user", q.user.Name, "remote", q.remote.String(), "path", q.abs, "err", err)
	if r, ok := reasonFor(op, err); ok {
		refuse(q.w, r, "")
		return
	}
	if errors.Is(err, errBadUpload) {
		http.Error(q.w, "400 malformed upload", http.StatusBadRequest)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The visitor went away; nobody reads this answer.
		http.Error(q.w, "499 cancelled", http.StatusBadRequest)
		return
	}
	refuse(q.w, ftp.ReasonNotFound, "")
}

// reasonFor picks the refusal for an error of operation op, from the table
// the FTP engine answers with (ftp.Reason), so both protocols give one
// reason for one case.
func reasonFor(op string, err error) (ftp.Reason, bool) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ftp.ReasonNotFound, true
	case errors.Is(err, fs.ErrPermission), errors.Is(err, errForbidden):
		return ftp.ReasonPermission, true
	case errors.Is(err, fs.ErrExist) && op == "upload":
		return ftp.ReasonNoReplace, true
	case errors.Is(err, fs.ErrExist):
		return ftp.ReasonExists, true
	case errors.Is(err, ftp.ErrFileBusy):
		return ftp.ReasonBusy, true
	case errors.Is(err, accounts.ErrQuotaExceeded):
		return ftp.ReasonQuota, true
	case errors.Is(err, errNoSpace), errors.Is(err, vfs.ErrNoSpace):
		return ftp.ReasonNoSpace, true
	case errors.Is(err, vfs.ErrTransient):
		return ftp.ReasonUnavailable, true
	case errors.Is(err, errBadName):
		return ftp.ReasonBadName, true
	case errors.Is(err, vfs.ErrNotEmpty):
		return ftp.ReasonNotEmpty, true
	case errors.Is(err, vfs.ErrNotDir):
		return ftp.ReasonNotFolder, true
	}
	return 0, false
}

// refuse answers a reason from the shared table.
func refuse(w http.ResponseWriter, r ftp.Reason, detail string) {
	code, line := r.HTTP(detail)
	http.Error(w, line, code)
}

// refuseHidden answers a path through a dot name while those are hidden,
// as the FTP engine does: to a reader it does not exist, to a writer the
// name is not allowed. It reports whether it answered.
func (h *handler) refuseHidden(q *request, abs string) bool {
	if !h.hideDot || !ftp.HasDotName(abs) {
		return false
	}
	h.log.Info("http hidden name refused", "user", q.user.Name, "remote", q.remote.String(), "path", abs)
	switch q.r.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete:
		refuse(q.w, ftp.ReasonNotFound, "")
	default:
		refuse(q.w, ftp.ReasonHidden, "")
	}
	return true
}

func (h *handler) forbid(q *request, what string) {
	h.log.Info("http refused by permissions", "user", q.user.Name, "remote", q.remote.String(), "path", q.abs, "op", what)
	refuse(q.w, ftp.ReasonPermission, what)
}

// get serves a folder's page or a file's bytes.
func (h *handler) get(q *request) {
	fi, err := h.fsys.Stat(q.ctx, q.name)
	if err != nil {
		h.fail(q, "stat", err)
		return
	}
	if fi.IsDir() {
		if !q.may(accounts.PermList, q.abs) {
			h.forbid(q, "listing")
			return
		}
		if !strings.HasSuffix(q.r.URL.Path, "/") {
			// Relative links on the page need the trailing slash.
			u := url.URL{Path: dirURL(q.abs), RawQuery: q.r.URL.RawQuery}
			http.Redirect(q.w, q.r, u.String(), http.StatusMovedPermanently)
			return
		}
		h.list(q)
		return
	}
	if !fi.Mode().IsRegular() {
		refuse(q.w, ftp.ReasonNotFound, "")
		return
	}
	if !q.may(accounts.PermDownload, q.abs) {
		h.forbid(q, "download")
		return
	}
	h.download(q)
}

func (h *handler) download(q *request) {
	start := time.Now()
	r, err := h.fsys.OpenRead(q.ctx, q.name, 0)
	if err != nil {
		h.fail(q, "open", err)
		return
	}
	// The open file's description, not the name's: the file may have been
	// replaced between the two, and the size must match the bytes served.
	fi := r.Info()
	f := newSeekReader(q.ctx, h.fsys, q.name, r)
	defer f.Close()
	if !fi.Mode().IsRegular() {
		h.fail(q, "stat", fs.ErrNotExist)
		return
	}
	if q.r.URL.Query().Has("dl") {
		q.w.Header().Set("Content-Disposition", contentDisposition(path.Base(q.abs)))
	}
	ctype, err := contentType(f, q.abs)
	if err != nil {
		h.fail(q, "read", err)
		return
	}
	q.w.Header().Set("Content-Type", ctype)
	if activeContent(ctype) {
		// A shared (or uploaded) page must not run as the share itself:
		// in a sandbox it gets an opaque origin, so its script cannot read
		// the share or act with the visitor's login (the Origin check
		// refuses its "null" origin). PDFs are left alone: Chromium will not
		// show them in a sandboxed document.
		q.w.Header().Set("Content-Security-Policy", "sandbox allow-scripts allow-popups allow-downloads")
	}
	// The validator lets If-Range and If-None-Match work, so an interrupted
	// download resumes only if the file did not change. It must be strong
	// (If-Range ignores weak ones); modification time in nanoseconds plus
	// size is what nginx and Apache use too.
	q.w.Header().Set("ETag", `"`+etag(fi)+`"`)
	q.w.Header().Set("Cache-Control", "no-cache")
	cw := &countingWriter{ResponseWriter: q.w}
	http.ServeContent(cw, q.r, path.Base(q.abs), fi.ModTime(), f)
	if q.r.Method == http.MethodHead || cw.status == http.StatusNotModified || cw.status >= 400 {
		// Not a transfer: a refused range (416) or precondition (412)
		// sends only its status text, which is no part of the file.
		return
	}
	ev := Event{Kind: EventDownload, Remote: q.remote, User: q.user.Name, Path: q.abs, Bytes: cw.n, Duration: time.Since(start)}
	if err := q.ctx.Err(); err != nil {
		ev.Err = err
	} else if cl, err := strconv.ParseInt(q.w.Header().Get("Content-Length"), 10, 64); err == nil && cw.n < cl {
		// The socket failed before the visitor's cancellation showed.
		ev.Err = io.ErrUnexpectedEOF
	}
	h.emit(ev)
}

// contentType decides the type ServeContent would, by extension, else by
// sniffing the first 512 bytes, so the caller knows it before serving.
func contentType(f io.ReadSeeker, name string) (string, error) {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t, nil
	}
	var buf [512]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return http.DetectContentType(buf[:n]), nil
}

// activeContent reports whether a browser would run a document of type t
// with scripts: HTML, XHTML, SVG and XML documents (XSLT).
func activeContent(t string) bool {
	t = strings.ToLower(t)
	return strings.Contains(t, "html") || strings.Contains(t, "xml") || strings.Contains(t, "svg")
}

// countingWriter counts body bytes while keeping the ResponseWriter's
// ReadFrom (sendfile) path: ServeContent copies with io.CopyN, which uses it.
type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		c.n += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
	c.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func remoteAddr(r *http.Request) netip.AddrPort {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return netip.AddrPortFrom(a.Unmap(), 0)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func etag(fi fs.FileInfo) string {
	return strconvBase36(fi.ModTime().UnixNano()) + "-" + strconvBase36(fi.Size())
}

// contentDisposition builds an attachment header that survives any file
// name: a plain ASCII fallback plus the RFC 6266 / RFC 5987 UTF-8 form.
func contentDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + extValue(name)
}

// extValue percent-encodes name as an RFC 8187 value-chars: every byte
// outside attr-char. url.PathEscape is not that set (it keeps ':', '=',
// '@' and others), and strict parsers drop a filename* holding them.
func extValue(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// isAttrChar is RFC 8187 section 3.2.1's attr-char.
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
