package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
)

// who is the admin behind a request and how it proved it.
type who struct {
	admin  string
	cookie *pageSession // nil for a bearer token
}

type whoKey struct{}

func whoOf(r *http.Request) who { w, _ := r.Context().Value(whoKey{}).(who); return w }

// authed wraps f with authentication: a bearer token, or a page session
// cookie whose CSRF token must come with every state change.
func (h *Handler) authed(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip := remoteIP(r)
		if auth := r.Header.Get("Authorization"); auth != "" {
			tok, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wharf admin"`)
				h.fail(w, http.StatusUnauthorized, "Authorization must be Bearer TOKEN")
				return
			}
			// Tokens are checked as passwords are: a banned address may
			// not try them, and a wrong one counts like a wrong password.
			var name string
			err := h.o.Engine.GuardLogin(r.Context(), ip, "(token)", "admin", func(ctx context.Context) error {
				var err error
				name, err = h.o.DB.AdminByToken(ctx, strings.TrimSpace(tok))
				return err
			}, isBadCredentials)
			if err != nil {
				h.refused(w, r, "(token)", err)
				return
			}
			f(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, who{admin: name})))
			return
		}
		ps := h.session(r)
		if ps == nil {
			h.fail(w, http.StatusUnauthorized, "sign in first (page session or Authorization: Bearer TOKEN)")
			return
		}
		// A deleted admin's sessions end at their next request.
		if ok, err := h.o.DB.AdminExists(r.Context(), ps.admin); err != nil {
			h.failErr(w, err)
			return
		} else if !ok {
			h.dropSession(r)
			h.fail(w, http.StatusUnauthorized, "sign in first (the admin account is gone)")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !equalSecret(r.Header.Get(csrfHeader), ps.csrf) {
			h.fail(w, http.StatusForbidden, "missing or wrong "+csrfHeader+" header")
			return
		}
		f(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, who{admin: ps.admin, cookie: ps})))
	}
}

func isBadCredentials(err error) bool { return errors.Is(err, accounts.ErrBadCredentials) }

// refused answers a sign-in the engine's guard refused: 403 for a banned
// address, 401 for wrong credentials, the store's status otherwise.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, name string, err error) {
	switch {
	case errors.Is(err, ftp.ErrBanned):
		h.log.Warn("admin login refused: address banned", "remote", remoteIP(r).String(), "user", name)
		h.fail(w, http.StatusForbidden, "too many failed logins from your address; try again later")
	case isBadCredentials(err):
		h.log.Warn("admin login failed", "remote", remoteIP(r).String(), "user", name)
		w.Header().Set("WWW-Authenticate", `Bearer realm="wharf admin"`)
		h.fail(w, http.StatusUnauthorized, "login incorrect")
	default:
		h.failErr(w, err)
	}
}

// session returns the request's live page session, if any.
func (h *Handler) session(r *http.Request) *pageSession {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	k := cookieKey(c.Value)
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	ps := h.sessions[k]
	if ps == nil {
		return nil
	}
	if !now.Before(ps.expires) {
		delete(h.sessions, k)
		return nil
	}
	return ps
}

func (h *Handler) dropSession(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		h.mu.Lock()
		delete(h.sessions, cookieKey(c.Value))
		h.mu.Unlock()
	}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameOrigin refuses a cross-site form post of the login (login CSRF):
// browsers send Origin on POST, and a script-less attacker cannot forge it.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser (curl), or an old one
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// login checks an admin's password and opens a page session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		h.fail(w, http.StatusForbidden, "cross-origin login refused")
		return
	}
	ip := remoteIP(r)
	var req loginRequest
	if !h.decode(w, r, &req) {
		return
	}
	if req.Name == "" || req.Password == "" {
		h.fail(w, http.StatusBadRequest, "name and password are required")
		return
	}
	err := h.o.Engine.GuardLogin(r.Context(), ip, req.Name, "admin", func(ctx context.Context) error {
		return h.o.DB.AdminLogin(ctx, req.Name, req.Password)
	}, isBadCredentials)
	if err != nil {
		h.refused(w, r, req.Name, err)
		return
	}
	value := randomToken()
	ps := &pageSession{admin: req.Name, csrf: randomToken(), expires: time.Now().Add(h.o.SessionTTL)}
	h.mu.Lock()
	if len(h.sessions) >= maxPageSessions {
		h.evictLocked()
	}
	h.sessions[cookieKey(value)] = ps
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, Expires: ps.expires,
	})
	h.log.Info("admin login", "admin", req.Name, "remote", ip.String())
	h.reply(w, http.StatusOK, map[string]any{"admin": req.Name, "csrf_token": ps.csrf, "expires": ps.expires})
}

// evictLocked drops expired sessions, then the oldest until there is
// room. Caller holds h.mu.
func (h *Handler) evictLocked() {
	now := time.Now()
	for k, ps := range h.sessions {
		if !now.Before(ps.expires) {
			delete(h.sessions, k)
		}
	}
	for len(h.sessions) >= maxPageSessions {
		var oldK [32]byte
		var old *pageSession
		for k, ps := range h.sessions {
			if old == nil || ps.expires.Before(old.expires) {
				oldK, old = k, ps
			}
		}
		delete(h.sessions, oldK)
	}
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	h.dropSession(r)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	h.reply(w, http.StatusOK, map[string]any{"admin": whoOf(r).admin, "signed_out": true})
}

// me says who is signed in; for a page session it also gives the CSRF
// token, so a reloaded page can go on (only a same-origin script can read
// this answer).
func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	v := map[string]any{"admin": wh.admin}
	if wh.cookie != nil {
		v["csrf_token"] = wh.cookie.csrf
		v["expires"] = wh.cookie.expires
		v["auth"] = "session"
	} else {
		v["auth"] = "token"
	}
	h.reply(w, http.StatusOK, v)
}
