package ftp

import (
	"net/netip"
	"time"

	"github.com/wharfftp/wharf/internal/ftpproto"
)

// Pre-login limits. 2,000 silent connections that never log in filled
// --max-sessions for the whole idle timeout, so nobody else could connect.
// A connection that has not logged in is cheap to open and proves
// nothing: it gets a short deadline of its own (vsftpd and pure-ftpd give
// the greeting-to-login phase tens of seconds), a cap per address, and
// only part of MaxSessions; when that part is full, the oldest idle one
// makes room for a newcomer instead of the newcomer being refused.
const (
	// defaultLoginTimeout: a person typing a password at a command-line
	// client needs seconds, a client program milliseconds.
	defaultLoginTimeout = 30 * time.Second
	// defaultMaxPreLoginPerIP: wharf's own client opens up to 32
	// connections at once (-P), lftp and FileZilla up to 10; logins of one
	// address are checked one at a time, so all of them wait pre-login
	// for a moment.
	defaultMaxPreLoginPerIP = 32
	// preLoginReserveDen: a quarter of MaxSessions is kept for logged-in
	// users; connections not logged in yet may hold the rest.
	preLoginReserveDen = 4
	// evictAfter is how long a pre-login connection is safe from being
	// closed to make room, as a part of the login timeout: long enough
	// for any client to log in, so only the silent ones are evicted.
	evictAfterDen = 10
)

// preLoginCap is how many pre-login sessions the server holds; 0: no cap.
func (s *Server) preLoginCap() int {
	if s.cfg.MaxSessions <= 0 {
		return 0
	}
	return max(1, s.cfg.MaxSessions-s.cfg.MaxSessions/preLoginReserveDen)
}

// admitPreLogin decides whether a new connection from ss's address may
// wait to log in, closing the oldest idle pre-login session to make room
// when the pre-login share or the whole server is full. It returns the
// refusal text, "" when admitted. Caller holds s.mu; the session to evict
// is returned to be closed outside it.
func (s *Server) admitPreLogin(ip netip.Addr, now time.Time) (refusal string, evict *session) {
	if m := s.cfg.MaxPreLoginPerIP; m > 0 && s.preLoginIP[ip] >= m {
		return "Too many connections from your address waiting to log in.", nil
	}
	full := s.cfg.MaxSessions > 0 && len(s.sessions) >= s.cfg.MaxSessions
	if c := s.preLoginCap(); !full && (c == 0 || s.preLogin < c) {
		return "", nil
	}
	if s.preLogin == 0 {
		return "Too many users connected; try again later.", nil
	}
	minAge := s.cfg.LoginTimeout / evictAfterDen
	var oldest *session
	for ss := range s.sessions {
		if ss.preLogin && now.Sub(ss.preSince) >= minAge && (oldest == nil || ss.preSince.Before(oldest.preSince)) {
			oldest = ss
		}
	}
	if oldest == nil {
		return "Too many users connected; try again later.", nil
	}
	// Counted as gone at once, so the newcomer's room is not given twice.
	s.setPreLoginLocked(oldest, false)
	oldest.evicted = true
	return "", oldest
}

// evictPreLogin closes a pre-login session chosen by admitPreLogin. A
// session in the middle of a command (its PASS being checked) is closed
// too: it had the login timeout's tenth to get there.
func (ss *session) evictPreLogin() {
	ss.log.Info("closing a pre-login session to make room for a new connection")
	ss.cancel()
	ss.wmu.Lock()
	ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
	ss.writeReply(ftpproto.CodeUnavailable, "Too many connections waiting to log in; closing.")
	ss.conn.Close()
	ss.wmu.Unlock()
}

// setPreLogin moves ss into (REIN) or out of (login, end) the pre-login
// count.
func (s *Server) setPreLogin(ss *session, pre bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setPreLoginLocked(ss, pre)
}

func (s *Server) setPreLoginLocked(ss *session, pre bool) {
	if ss.preLogin == pre || ss.evicted && pre {
		return
	}
	ip := ss.remote.Addr().Unmap()
	ss.preLogin = pre
	if pre {
		ss.preSince = time.Now()
		s.preLogin++
		s.preLoginIP[ip]++
		return
	}
	s.preLogin--
	if s.preLoginIP[ip]--; s.preLoginIP[ip] <= 0 {
		delete(s.preLoginIP, ip)
	}
}
