package admin

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
)

func (h *Handler) routes() {
	a := h.authed
	h.route("/api/v1/login", map[string]http.HandlerFunc{"POST": h.login})
	h.route("/api/v1/logout", map[string]http.HandlerFunc{"POST": a(h.logout)})
	h.route("/api/v1/me", map[string]http.HandlerFunc{"GET": a(h.me)})
	h.route("/api/v1/sessions", map[string]http.HandlerFunc{"GET": a(h.listSessions)})
	h.route("/api/v1/sessions/{id}", map[string]http.HandlerFunc{"DELETE": a(h.kick)})
	h.route("/api/v1/users", map[string]http.HandlerFunc{"GET": a(h.listUsers), "POST": a(h.addUser)})
	h.route("/api/v1/users/{name}", map[string]http.HandlerFunc{
		"GET": a(h.getUser), "PATCH": a(h.setUser), "DELETE": a(h.deleteUser)})
	h.route("/api/v1/users/{name}/disable", map[string]http.HandlerFunc{"POST": a(h.disable(true))})
	h.route("/api/v1/users/{name}/enable", map[string]http.HandlerFunc{"POST": a(h.disable(false))})
	h.route("/api/v1/users/{name}/quota", map[string]http.HandlerFunc{"GET": a(h.quota)})
	h.route("/api/v1/bans", map[string]http.HandlerFunc{"GET": a(h.listBans)})
	h.route("/api/v1/bans/{ip}", map[string]http.HandlerFunc{"DELETE": a(h.liftBan)})
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusNotFound, "no such API route: "+r.URL.Path)
	})
	if h.o.Metrics != nil {
		h.mux.Handle("GET /metrics", h.o.Metrics)
	}
	h.pageRoutes()
}

// sessionJSON is one live session as the API shows it.
type sessionJSON struct {
	ID       uint64            `json:"id"`
	User     string            `json:"user"`
	Address  string            `json:"address"`
	Remote   string            `json:"remote"`
	Node     string            `json:"node"`
	TLS      bool              `json:"tls"`
	Start    time.Time         `json:"start"`
	Login    time.Time         `json:"login,omitzero"`
	Command  string            `json:"command"`
	Transfer *ftp.TransferInfo `json:"transfer,omitempty"`
}

func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request) {
	list := h.o.Engine.Sessions()
	out := make([]sessionJSON, len(list))
	for i, s := range list {
		out[i] = sessionJSON{ID: s.ID, User: s.User, Address: s.Remote.Addr().Unmap().String(), Remote: s.Remote.String(),
			Node: h.o.Node, TLS: s.TLS, Start: s.Start, Login: s.Login, Command: s.Command, Transfer: s.Transfer}
	}
	h.reply(w, http.StatusOK, map[string]any{"sessions": out})
}

func (h *Handler) kick(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, http.StatusBadRequest, "session id "+strconv.Quote(r.PathValue("id"))+": not a number")
		return
	}
	if !h.o.Engine.Kick(id) {
		h.fail(w, http.StatusNotFound, "no session "+strconv.FormatUint(id, 10)+" on node "+h.o.Node)
		return
	}
	h.log.Info("admin kicked a session", "admin", whoOf(r).admin, "session", id)
	h.reply(w, http.StatusOK, map[string]any{"kicked": id})
}

// userJSON is a user as the API shows it: settings, state, usage and the
// sessions open on this node.
type userJSON struct {
	accounts.User
	Perms    accounts.Perm `json:"perms"`
	State    string        `json:"state"`
	Sessions int           `json:"sessions"`
}

func userState(u accounts.User, now time.Time) string {
	switch {
	case u.Disabled:
		return "disabled"
	case !u.Expires.IsZero() && !now.Before(u.Expires):
		return "expired"
	}
	return "active"
}

func (h *Handler) userOut(u accounts.User, live map[string]int) userJSON {
	return userJSON{User: u, Perms: u.Perms, State: userState(u, time.Now()), Sessions: live[u.Name]}
}

// liveCounts counts this node's logged-in sessions per user.
func (h *Handler) liveCounts() map[string]int {
	n := make(map[string]int)
	for _, s := range h.o.Engine.Sessions() {
		if s.User != "" {
			n[s.User]++
		}
	}
	return n
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := h.o.DB.ListUsers(r.Context())
	if err != nil {
		h.failErr(w, err)
		return
	}
	live := h.liveCounts()
	out := make([]userJSON, len(users))
	for i, u := range users {
		out[i] = h.userOut(u, live)
	}
	h.reply(w, http.StatusOK, map[string]any{"users": out})
}

// validName answers 400 for a name no user can have, so it never reaches
// the store (and reads as bad input, not "unknown user").
func (h *Handler) validName(w http.ResponseWriter, name string) bool {
	if err := accounts.ValidName(name); err != nil {
		h.fail(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !h.validName(w, name) {
		return
	}
	u, err := h.o.DB.GetUser(r.Context(), name)
	if err != nil {
		h.failErr(w, err)
		return
	}
	h.reply(w, http.StatusOK, map[string]any{"user": h.userOut(u, h.liveCounts())})
}

// addRequest is POST /api/v1/users: a name, a password and the settings
// `wharf user add` takes (perm defaults to full, as there).
type addRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	accounts.UserSettings
}

func (h *Handler) addUser(w http.ResponseWriter, r *http.Request) {
	var req addRequest
	if !h.decode(w, r, &req) {
		return
	}
	if !h.validName(w, req.Name) {
		return
	}
	if req.Password == "" {
		h.fail(w, http.StatusBadRequest, "password is required")
		return
	}
	if req.Perm == nil {
		full := "full"
		req.Perm = &full
	}
	u := accounts.User{Name: req.Name}
	if err := req.UserSettings.Apply(&u); err != nil {
		h.failErr(w, err)
		return
	}
	if err := h.o.DB.AddUser(r.Context(), u, req.Password); err != nil {
		h.failErr(w, err)
		return
	}
	got, err := h.o.DB.GetUser(r.Context(), req.Name)
	if err != nil {
		h.failErr(w, err)
		return
	}
	h.log.Info("admin added a user", "admin", whoOf(r).admin, "user", req.Name)
	h.reply(w, http.StatusCreated, map[string]any{"user": h.userOut(got, nil)})
}

// setRequest is PATCH /api/v1/users/NAME: the settings to change, as
// `wharf user set` takes them, and optionally a new password.
type setRequest struct {
	Password *string `json:"password,omitempty"`
	accounts.UserSettings
}

func (h *Handler) setUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !h.validName(w, name) {
		return
	}
	var req setRequest
	if !h.decode(w, r, &req) {
		return
	}
	if req.Password != nil && *req.Password == "" {
		h.fail(w, http.StatusBadRequest, "password: empty")
		return
	}
	if req.Password == nil && req.UserSettings == (accounts.UserSettings{}) {
		h.fail(w, http.StatusBadRequest, "nothing to change")
		return
	}
	u, err := h.o.DB.GetUser(r.Context(), name)
	if err != nil {
		h.failErr(w, err)
		return
	}
	if err := req.UserSettings.Apply(&u); err != nil {
		h.failErr(w, err)
		return
	}
	if req.UserSettings != (accounts.UserSettings{}) {
		if err := h.o.DB.UpdateUser(r.Context(), u); err != nil {
			h.failErr(w, err)
			return
		}
	}
	if req.Password != nil {
		if err := h.o.DB.SetPassword(r.Context(), name, *req.Password); err != nil {
			h.failErr(w, err)
			return
		}
	}
	h.log.Info("admin changed a user", "admin", whoOf(r).admin, "user", name)
	h.respondUser(w, r, name)
}

func (h *Handler) respondUser(w http.ResponseWriter, r *http.Request, name string) {
	got, err := h.o.DB.GetUser(r.Context(), name)
	if err != nil {
		h.failErr(w, err)
		return
	}
	h.reply(w, http.StatusOK, map[string]any{"user": h.userOut(got, h.liveCounts())})
}

// disable refuses (or allows again) a user's logins; open sessions are
// closed by the engine at their next command, as with `wharf user set
// --disable`.
func (h *Handler) disable(off bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !h.validName(w, name) {
			return
		}
		u, err := h.o.DB.GetUser(r.Context(), name)
		if err != nil {
			h.failErr(w, err)
			return
		}
		u.Disabled = off
		if err := h.o.DB.UpdateUser(r.Context(), u); err != nil {
			h.failErr(w, err)
			return
		}
		h.log.Info("admin changed a user", "admin", whoOf(r).admin, "user", name, "disabled", off)
		h.respondUser(w, r, name)
	}
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !h.validName(w, name) {
		return
	}
	purge := false
	if p := r.URL.Query().Get("purge"); p != "" {
		var err error
		if purge, err = strconv.ParseBool(p); err != nil {
			h.fail(w, http.StatusBadRequest, "purge: want true or false")
			return
		}
	}
	if err := h.o.DB.DeleteUser(r.Context(), name, purge); err != nil {
		h.failErr(w, err)
		return
	}
	h.log.Info("admin deleted a user", "admin", whoOf(r).admin, "user", name, "purge", purge)
	h.reply(w, http.StatusOK, map[string]any{"deleted": name, "purged": purge})
}

// quotaJSON is a user's usage; limits of 0 are unlimited.
type quotaJSON struct {
	UsedBytes  int64 `json:"used_bytes"`
	QuotaBytes int64 `json:"quota_bytes"`
	UsedFiles  int64 `json:"used_files"`
	QuotaFiles int64 `json:"quota_files"`
}

func (h *Handler) quota(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !h.validName(w, name) {
		return
	}
	u, err := h.o.DB.GetUser(r.Context(), name)
	if err != nil {
		h.failErr(w, err)
		return
	}
	h.reply(w, http.StatusOK, map[string]any{"user": name, "quota": quotaJSON{
		UsedBytes: u.UsedBytes, QuotaBytes: u.QuotaBytes, UsedFiles: u.UsedFiles, QuotaFiles: u.QuotaFiles}})
}

func (h *Handler) listBans(w http.ResponseWriter, r *http.Request) {
	bans := h.o.Engine.Bans()
	if bans == nil {
		bans = []ftp.BanInfo{}
	}
	h.reply(w, http.StatusOK, map[string]any{"bans": bans})
}

func (h *Handler) liftBan(w http.ResponseWriter, r *http.Request) {
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil {
		h.fail(w, http.StatusBadRequest, "address "+strconv.Quote(r.PathValue("ip"))+": not an IP address")
		return
	}
	if !h.o.Engine.LiftBan(ip) {
		h.fail(w, http.StatusNotFound, ip.String()+" is not banned on node "+h.o.Node)
		return
	}
	h.log.Info("admin lifted a ban", "admin", whoOf(r).admin, "remote", ip.String())
	h.reply(w, http.StatusOK, map[string]any{"lifted": ip.String()})
}
