package ftp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The seam for operations tooling (metrics, hooks, the admin API): events
// through Config.Events, and a few Server methods that read or act on live
// state. The engine knows nothing of Prometheus or HTTP; it only reports.

// More event kinds, after those in server.go.
const (
	// Command is a command's final reply: Verb and Code. A transfer
	// command's is its 226/4xx/5xx, after its TransferDone.
	Command EventKind = iota + 100
	// TransferStart is a transfer whose data connection just opened.
	TransferStart
	// Deleted is a file (DELE) or folder (RMD, Dir set) removed.
	Deleted
	// QuotaRefused is a 552 sent: the user's quota had no room.
	QuotaRefused
	// PassiveOpen and PassiveClose bracket each passive data listener.
	PassiveOpen
	PassiveClose
)

func (k EventKind) moreString() string {
	switch k {
	case Command:
		return "command"
	case TransferStart:
		return "transfer-start"
	case Deleted:
		return "deleted"
	case QuotaRefused:
		return "quota-refused"
	case PassiveOpen:
		return "passive-open"
	case PassiveClose:
		return "passive-close"
	}
	return "unknown"
}

// liveInfo is the part of a session an admin may read from another
// goroutine. Guarded by session.mu.
type liveInfo struct {
	user    string    // logged-in user, "" before login
	loginAt time.Time // zero before login
	tls     bool
	verb    string // command running or last run
}

// SessionInfo is a snapshot of one session for Server.Sessions.
type SessionInfo struct {
	ID       uint64         `json:"id"`
	User     string         `json:"user"` // "" before login
	Remote   netip.AddrPort `json:"remote"`
	TLS      bool           `json:"tls"`
	Start    time.Time      `json:"start"`
	Login    time.Time      `json:"login,omitzero"`
	Command  string         `json:"command"` // the command running or last run
	Transfer *TransferInfo  `json:"transfer,omitempty"`
}

// TransferInfo is the running transfer of a session.
type TransferInfo struct {
	Verb   string    `json:"verb"`
	Path   string    `json:"path"`
	Upload bool      `json:"upload"`
	Bytes  int64     `json:"bytes"` // moved so far
	Size   int64     `json:"size"`  // bytes it will move when known (downloads), else 0
	Start  time.Time `json:"start"`
	Rate   float64   `json:"rate"` // bytes/s since Start
}

// Sessions returns a snapshot of the open sessions, oldest first.
func (s *Server) Sessions() []SessionInfo {
	open := s.openSessions()
	out := make([]SessionInfo, 0, len(open))
	now := time.Now()
	for _, ss := range open {
		ss.mu.Lock()
		si := SessionInfo{ID: ss.id, User: ss.live.user, Remote: ss.remote, TLS: ss.live.tls || ss.implicit,
			Start: ss.started, Login: ss.live.loginAt, Command: ss.live.verb}
		x := ss.xfer
		ss.mu.Unlock()
		if x != nil {
			ti := &TransferInfo{Verb: x.verb, Path: x.path, Upload: x.upload, Bytes: x.progress(), Size: x.size.Load(), Start: x.start}
			if d := now.Sub(x.start).Seconds(); d > 0 {
				ti.Rate = float64(ti.Bytes) / d
			}
			si.Transfer = ti
		}
		out = append(out, si)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Kick closes session id at once (its transfer is aborted, an upload
// discarded as any broken one is) and reports whether it was open.
func (s *Server) Kick(id uint64) bool {
	for _, ss := range s.openSessions() {
		if ss.id == id {
			ss.log.Info("session kicked by an admin")
			ss.forceClose()
			return true
		}
	}
	return false
}

// BanInfo is one banned address.
type BanInfo struct {
	Addr     netip.Addr `json:"addr"`
	Failures int        `json:"failures"`
	Until    time.Time  `json:"until"`
}

// sharedBanTimeout bounds a call to a cluster's ban list made for an
// admin: a slow database must not hang the admin page.
const sharedBanTimeout = 5 * time.Second

// Bans lists the addresses banned now: this node's, and in a cluster the
// shared list's (an address banned on both shows once, with the larger
// figures).
func (s *Server) Bans() []BanInfo {
	now := time.Now()
	s.mu.Lock()
	byAddr := make(map[netip.Addr]BanInfo)
	for ip, b := range s.bans {
		if !b.until.IsZero() && now.Before(b.until) {
			byAddr[ip] = BanInfo{Addr: ip, Failures: b.failures, Until: b.until}
		}
	}
	s.mu.Unlock()
	if sb := s.cfg.SharedBans; sb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedBanTimeout)
		shared, err := sb.Bans(ctx)
		cancel()
		if err != nil {
			s.log.Warn("shared ban list unavailable", "err", err)
		}
		for _, b := range shared {
			ip := b.Addr.Unmap()
			cur, ok := byAddr[ip]
			if !ok {
				cur = BanInfo{Addr: ip}
			}
			cur.Failures = max(cur.Failures, b.Failures)
			if b.Until.After(cur.Until) {
				cur.Until = b.Until
			}
			byAddr[ip] = cur
		}
	}
	out := make([]BanInfo, 0, len(byAddr))
	for _, b := range byAddr {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BanInfo) int { return a.Addr.Compare(b.Addr) })
	return out
}

// LiftBan forgets ip's ban and its failure count, on this node and in a
// cluster on every node; it reports whether ip was banned.
func (s *Server) LiftBan(ip netip.Addr) bool {
	ip = ip.Unmap()
	now := time.Now()
	s.mu.Lock()
	b := s.bans[ip]
	delete(s.bans, ip)
	s.mu.Unlock()
	lifted := b != nil && !b.until.IsZero() && now.Before(b.until)
	if sb := s.cfg.SharedBans; sb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedBanTimeout)
		ok, err := sb.Lift(ctx, ip)
		cancel()
		if err != nil {
			s.log.Warn("shared ban list unavailable: ban lifted on this node only", "remote", ip.String(), "err", err)
		}
		lifted = lifted || ok
	}
	return lifted
}

// Banned reports whether ip is banned now, on this node or (in a cluster)
// on the shared list: for other front doors (the admin page) that share
// the FTP ban list.
func (s *Server) Banned(ip netip.Addr) bool {
	ip = ip.Unmap()
	s.mu.Lock()
	local := s.banned(ip, time.Now())
	s.mu.Unlock()
	return local || s.cfg.SharedBans != nil && s.cfg.SharedBans.Banned(ip)
}

// ErrBanned is GuardLogin's answer for an address that is banned, before
// its check or because of its failure.
var ErrBanned = errors.New("too many failed logins from this address")

// GuardLogin runs check, another front door's password check (the admin
// page's), under the rules of an FTP PASS from ip: one check of the
// address at a time, across FTP and the other door; an error for which
// failed reports true counted on the ban list (the cluster's too) and
// followed by the growing delay. It returns check's error, ErrBanned when
// ip is or becomes banned, or ctx's error if it ends while waiting. A
// failure is an Event (LoginFailed, Via via) as an FTP one is, so hooks
// and metrics see guesses at every door.
func (s *Server) GuardLogin(ctx context.Context, ip netip.Addr, user, via string, check func(context.Context) error, failed func(error) bool) error {
	ip = ip.Unmap()
	if s.addrBanned(ip) {
		return ErrBanned
	}
	leave, err := s.enterLogin(ctx, ip)
	if err != nil {
		return err
	}
	defer leave()
	if s.addrBanned(ip) {
		return ErrBanned // banned while this waited its turn
	}
	err = check(ctx)
	if err == nil || !failed(err) {
		return err
	}
	failures, banned := s.noteFailure(ctx, ip, user, via, err)
	if d := s.cfg.LoginFailDelay; d > 0 {
		d = min(d<<min(max(failures, 1)-1, 10), maxLoginFailDelay)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if banned {
		return ErrBanned
	}
	return err
}

// LoginFailed counts a failed login from ip made through another front
// door against the same ban list as FTP logins (the cluster's too), and
// reports whether ip is now banned. It neither waits for the address's
// turn nor delays: GuardLogin does both.
func (s *Server) LoginFailed(ip netip.Addr, user, via string, cause error) bool {
	ip = ip.Unmap()
	_, banned := s.noteFailure(context.Background(), ip, user, via, cause)
	return banned || s.Banned(ip)
}

// noteFailure counts a failure of another front door as loginRefused
// counts an FTP one, ends the address's sessions not logged in when it
// bans, and reports the address's failures and whether it is banned now.
func (s *Server) noteFailure(ctx context.Context, ip netip.Addr, user, via string, cause error) (int, bool) {
	s.emit(Event{Kind: LoginFailed, Remote: netip.AddrPortFrom(ip, 0), User: user, Via: via, Err: cause})
	failures, banned := s.loginFailed(ip)
	if sb := s.cfg.SharedBans; sb != nil && s.cfg.BanAfter >= 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		n, sharedBan, err := sb.LoginFailed(ctx, ip, s.cfg.BanAfter, s.cfg.BanFor)
		cancel()
		if err != nil {
			s.log.Warn("shared ban list unavailable", "err", err)
		}
		failures, banned = max(failures, n), banned || sharedBan
	}
	if banned {
		s.closePreLogin(ip)
		s.log.Warn("address banned after repeated failed logins", "remote", ip.String(), "ban_for", s.cfg.BanFor)
		s.emit(Event{Kind: Banned, Remote: netip.AddrPortFrom(ip, 0), User: user, Via: via})
	}
	return failures, banned
}

// event fills in what the session knows and emits e.
func (ss *session) event(e Event) {
	if ss.srv.cfg.Events == nil {
		return
	}
	e.Session, e.Remote = ss.id, ss.remote
	if e.User == "" {
		e.User = ss.userName
	}
	ss.mu.Lock()
	e.TLS = ss.live.tls || ss.implicit
	ss.mu.Unlock()
	ss.srv.emit(e)
}

// noteLogin records a login (name "" for a logout) for Sessions.
func (ss *session) noteLogin(name string) {
	ss.mu.Lock()
	ss.live.user = name
	ss.live.loginAt = time.Time{}
	if name != "" {
		ss.live.loginAt = time.Now()
	}
	ss.mu.Unlock()
}

// noteTLS records that the control connection is now encrypted.
func (ss *session) noteTLS() {
	ss.mu.Lock()
	ss.live.tls = true
	ss.mu.Unlock()
}

// handleLine runs one command line and reports its final reply as a
// Command event (a transfer's final reply is reported by the transfer).
func (ss *session) handleLine(line []byte) {
	ss.wmu.Lock()
	ss.lastCode = 0
	ss.wmu.Unlock()
	ss.verb = "UNKNOWN"
	ss.handleCommand(line)
	ss.wmu.Lock()
	code := ss.lastCode
	ss.wmu.Unlock()
	if code >= 200 {
		ss.event(Event{Kind: Command, Verb: ss.verb, Code: code})
	}
}

// noteVerb records the command being run, for events and Sessions; verbs
// outside the command table are "UNKNOWN" so a client cannot mint labels.
func (ss *session) noteVerb(verb string) {
	if _, ok := ss.srv.commands[verb]; !ok {
		verb = "UNKNOWN"
	}
	ss.verb = verb
	ss.mu.Lock()
	ss.live.verb = verb
	ss.mu.Unlock()
}

// replyTransfer sends a transfer's final reply (from its goroutine) and
// reports it as the transfer command's Command event.
func (ss *session) replyTransfer(x *transfer, code int, text string) {
	ss.wmu.Lock()
	ss.conn.SetWriteDeadline(time.Now().Add(replyWriteTimeout))
	if err := ss.writeReply(code, text); err != nil {
		ss.log.Debug("reply write failed", "err", err, "code", code)
	}
	ss.wmu.Unlock()
	if code == 552 {
		ss.event(Event{Kind: QuotaRefused, Verb: x.verb, Path: x.path})
	}
	ss.event(Event{Kind: Command, Verb: x.verb, Code: code})
}

// realPath is where client path abs of the session's user is stored: a
// vfs.Storage that knows says so (RealPath), else it is below the user's home.
func (ss *session) realPath(abs string) string {
	if rp, ok := ss.fs.(interface{ RealPath(string) string }); ok {
		return rp.RealPath(abs)
	}
	if ss.acct == nil {
		return ""
	}
	return filepath.Join(ss.user().Home, filepath.FromSlash(abs))
}

// passiveListener reports its opening and (first) closing as events, so
// an observer can count open passive listeners. Armed by a PASV or EPSV,
// it holds one of its user's passive places (Config.MaxPassivePerUser)
// until a transfer claims it, and closes itself when none claimed it
// within the data timeout: an unused one
// kept its port, and the kernel kept accepting on it, for as long as the
// session lived.
type passiveListener struct {
	*net.TCPListener
	once  sync.Once
	ss    *session
	owner string // immutable: the account whose place it holds

	mu      sync.Mutex
	opened  time.Time   // when last armed: written by arm before passiveHeld publishes p, read under Server.mu
	claimed bool        // guarded by mu: a transfer took it
	expired bool        // guarded by mu: the timer closed it first
	timer   *time.Timer // stops the expiry once claimed
}

func (ss *session) observePassive(ln *net.TCPListener, owner string) *passiveListener {
	ss.event(Event{Kind: PassiveOpen})
	return &passiveListener{TCPListener: ln, ss: ss, owner: owner}
}

// arm offers the listener for one transfer (a fresh one, or the session's
// kept spare again): it counts as its owner's idle listener and closes at
// the data timeout unless claimed first.
func (p *passiveListener) arm() {
	p.mu.Lock()
	p.claimed, p.expired, p.opened = false, false, time.Now()
	if p.timer == nil {
		p.timer = time.AfterFunc(p.ss.srv.cfg.DataTimeout, p.expire)
	} else {
		p.timer.Reset(p.ss.srv.cfg.DataTimeout)
	}
	p.mu.Unlock()
	p.ss.srv.passiveHeld(p)
}

// expire closes the listener if no transfer claimed it.
func (p *passiveListener) expire() {
	p.mu.Lock()
	unused := !p.claimed
	p.expired = unused
	p.mu.Unlock()
	if unused {
		p.ss.log.Info("passive listener closed unused after the data timeout")
		p.Close()
	}
}

// claim takes the listener for a transfer; false when it already expired.
func (p *passiveListener) claim() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expired {
		return false
	}
	p.claimed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	// In use, it is no longer one the user holds idle: its place goes
	// back now, so parallel transfers of one account are not limited.
	p.ss.srv.passiveDone(p)
	return true
}

func (p *passiveListener) Close() error {
	err := p.TCPListener.Close()
	p.once.Do(func() {
		p.mu.Lock()
		if p.timer != nil {
			p.timer.Stop()
		}
		p.mu.Unlock()
		p.ss.srv.passiveDone(p)
		p.ss.event(Event{Kind: PassiveClose})
	})
	return err
}

// tcpListener unwraps a passive listener.
func tcpListener(ln net.Listener) *net.TCPListener {
	if p, ok := ln.(*passiveListener); ok {
		return p.TCPListener
	}
	return ln.(*net.TCPListener)
}
