package ftp

import (
	"context"
	"net/netip"
	"time"

	"github.com/wharfftp/wharf/internal/ftpproto"
)

// loginGate lets one password check of an address run at a time, the
// failure delay included. Without it the delay and the ban only slowed
// each session: an address with 19 sessions open before its first guess
// got 54 passwords verified in 10 s, and the ban never reached them.
type loginGate struct {
	turn  chan struct{} // capacity 1: holding a value is holding the turn
	users int           // guarded by Server.mu: sessions holding or waiting
}

// enterLogin waits for ip's turn to check a password. The returned func
// gives the turn back; err is ctx's when the session ended while waiting.
func (s *Server) enterLogin(ctx context.Context, ip netip.Addr) (leave func(), err error) {
	s.mu.Lock()
	g := s.gates[ip]
	if g == nil {
		g = &loginGate{turn: make(chan struct{}, 1)}
		s.gates[ip] = g
	}
	g.users++
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		if g.users--; g.users == 0 {
			delete(s.gates, ip)
		}
		s.mu.Unlock()
	}
	select {
	case g.turn <- struct{}{}:
		return func() { <-g.turn; forget() }, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

// addrBanned reports whether ip is banned here or in the cluster.
func (s *Server) addrBanned(ip netip.Addr) bool {
	s.mu.Lock()
	b := s.banned(ip, time.Now())
	s.mu.Unlock()
	return b || s.cfg.SharedBans != nil && s.cfg.SharedBans.Banned(ip)
}

// closePreLogin ends every session of ip that has not logged in, except
// keep (the session whose failure banned ip, which answers for itself): a
// ban applies to the sessions opened before it, not only to new ones.
// Logged-in sessions stay: they proved a password before the ban.
func (s *Server) closePreLogin(ip netip.Addr, keep ...*session) {
	var victims []*session
	s.mu.Lock()
	for ss := range s.sessions {
		if ss.remote.Addr().Unmap() != ip || len(keep) > 0 && ss == keep[0] {
			continue
		}
		victims = append(victims, ss)
	}
	s.mu.Unlock()
	for _, ss := range victims {
		ss.mu.Lock()
		pre := ss.live.user == "" && ss.state != stateClosed
		ss.mu.Unlock()
		if !pre {
			continue
		}
		ss.log.Info("closing pre-login session of a banned address")
		ss.cancel()
		ss.wmu.Lock()
		ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
		ss.writeReply(ftpproto.CodeUnavailable, "Too many failed logins from your address; closing.")
		ss.conn.Close()
		ss.wmu.Unlock()
	}
}
