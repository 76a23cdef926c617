// Package admin is wharf's web admin: the JSON API under /api/v1/ and the
// page at / that drives it, served on serve's --admin-listen beside
// /metrics. It reads and acts on one node's live state through the
// engine's operations seam (ftp.Server: Sessions, Kick, Bans, LiftBan) and
// on the shared users through accounts.DB, with the same validation as
// `wharf user` (accounts.UserSettings).
//
// It owns admin authentication on the web: page sessions (cookie plus CSRF
// token) and bearer tokens, failed attempts counted on the engine's ban
// list. It must never speak FTP, never touch users' files except through
// accounts.DB, never load anything from outside the binary (the page's
// assets are embedded) and never answer a state change made with a cookie
// alone, without its CSRF token.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
)

// Options configure New.
type Options struct {
	DB     *accounts.DB // users and admins; required
	Engine *ftp.Server  // the node's live sessions and bans; required
	Node   string       // this node's name, in every response
	// Metrics, when set, is served at GET /metrics.
	Metrics http.Handler
	Logger  *slog.Logger
	// SessionTTL bounds a page session from its login; zero:
	// DefaultSessionTTL.
	SessionTTL time.Duration
}

const (
	// DefaultSessionTTL is a working day: an admin signs in once a day,
	// and a cookie stolen from a shared computer is worth little later.
	DefaultSessionTTL = 12 * time.Hour
	// maxPageSessions bounds the session table against a login storm by
	// someone who knows a password (the oldest are dropped).
	maxPageSessions = 1000
	// maxBody bounds a request body: the largest is a user's settings.
	maxBody = 64 << 10
	// cookieName is the page session cookie.
	cookieName = "wharf_admin"
	// csrfHeader carries a page session's CSRF token on state changes.
	csrfHeader = "X-CSRF-Token"
	// nodeHeader names the node that answered, on every response.
	nodeHeader = "X-Wharf-Node"
)

// Handler serves the admin API, the page and (optionally) /metrics.
type Handler struct {
	o   Options
	log *slog.Logger
	mux *http.ServeMux

	mu       sync.Mutex
	sessions map[[32]byte]*pageSession // guarded by mu; by SHA-256 of the cookie value
}

// pageSession is a signed-in browser.
type pageSession struct {
	admin   string
	csrf    string
	expires time.Time
}

// New builds the handler.
func New(o Options) *Handler {
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	h := &Handler{o: o, log: o.Logger, mux: http.NewServeMux(), sessions: make(map[[32]byte]*pageSession)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.routes()
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(nodeHeader, h.o.Node)
	// Nothing here may be framed by another site (clickjacking a kick
	// or a delete), sniffed into another type, or cached by a proxy.
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

// route registers path with a handler per method; other methods get a
// JSON 405 (the mux's own is plain text).
func (h *Handler) route(path string, byMethod map[string]http.HandlerFunc) {
	allow := make([]string, 0, len(byMethod))
	for m := range byMethod {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		f := byMethod[r.Method]
		if f == nil && r.Method == http.MethodHead {
			f = byMethod[http.MethodGet]
		}
		if f == nil {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			h.fail(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here")
			return
		}
		f(w, r)
	})
}

// reply writes v (a JSON object) with the node that answered.
func (h *Handler) reply(w http.ResponseWriter, status int, v map[string]any) {
	if v == nil {
		v = map[string]any{}
	}
	v["node"] = h.o.Node
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// fail writes a JSON error.
func (h *Handler) fail(w http.ResponseWriter, status int, msg string) {
	h.reply(w, status, map[string]any{"error": msg, "status": status})
}

// failErr maps an accounts error to a status; a store failure's text goes
// to the log, not to the client.
func (h *Handler) failErr(w http.ResponseWriter, err error) {
	var inv *accounts.InvalidError
	var se *accounts.SettingError
	switch {
	case errors.As(err, &se), errors.As(err, &inv):
		h.fail(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, accounts.ErrNotFound):
		h.fail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, accounts.ErrExists):
		h.fail(w, http.StatusConflict, err.Error())
	case errors.Is(err, accounts.ErrUnavailable):
		h.log.Warn("admin: account database unavailable", "err", err)
		h.fail(w, http.StatusServiceUnavailable, "account database unavailable")
	default:
		h.log.Error("admin: request failed", "err", err)
		h.fail(w, http.StatusInternalServerError, "internal error (see the server log)")
	}
}

// decode reads a JSON object body into v, refusing unknown fields,
// trailing data and bodies over maxBody.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, http.StatusRequestEntityTooLarge, "request body too large")
			return false
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		h.fail(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	return true
}

// remoteIP is the client's address as the connection says (a header
// saying otherwise could be forged to dodge the ban list).
func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func cookieKey(v string) [32]byte { return sha256.Sum256([]byte(v)) }

func equalSecret(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
