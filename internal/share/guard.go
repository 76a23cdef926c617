package share

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
)

// HTTP login throttling defaults: the FTP engine's, so a password is as hard
// to guess over the web page as over FTP.
const (
	// defaultLoginFailDelay is how long a refused Basic login waits before
	// its 401: sequential guessing slows to one try a second per connection.
	defaultLoginFailDelay = time.Second
	// defaultBanAfter failed logins from one address within defaultBanFor
	// ban that address for defaultBanFor: parallel guessing stops there.
	defaultBanAfter = 10
	defaultBanFor   = 15 * time.Minute
	// maxTrackedAddrs bounds the failure table; when full, stale entries
	// are dropped first, then the table is reset (a flood of distinct
	// addresses must not grow memory without bound).
	maxTrackedAddrs = 4096
	// maxChecksPerAddr bounds the Basic-auth checks of one address running
	// or waiting for their turn (one runs at a time, as on FTP): a browser
	// opens at most 6 connections to a host, a burst of guesses gets 429.
	maxChecksPerAddr = 8
	// maxChecksInFlight bounds the checks of all addresses together, so a
	// flood from many addresses queues no more than this many requests.
	maxChecksInFlight = 64
	// maxLoginFailDelay caps the per-address growing delay, as the FTP
	// engine's does.
	maxLoginFailDelay = 16 * time.Second
)

// errBusy refuses a login check that would exceed maxChecksPerAddr or
// maxChecksInFlight; it is answered 429 without checking anything.
var errBusy = errors.New("too many login checks at once")

// guard counts failed logins per address and bans repeat offenders.
type guard struct {
	after int           // failures before a ban; <= 0: never ban
	span  time.Duration // counting window and ban length

	mu       sync.Mutex
	addrs    map[netip.Addr]*failures // guarded by mu
	turns    map[netip.Addr]*turn     // guarded by mu: checks of an address running or waiting
	inFlight int                      // guarded by mu: checks running or waiting, all addresses
}

// turn lets one login check of an address run at a time, its failure delay
// included: parallel guesses from one address wait for each other instead
// of being verified side by side.
type turn struct {
	ch chan struct{} // capacity 1: holding a value is holding the turn
	n  int           // guarded by guard.mu
}

type failures struct {
	n     int
	first time.Time // start of the counting window
	until time.Time // banned until; zero: not banned
}

func newGuard(after int, span time.Duration) *guard {
	return &guard{after: after, span: span, addrs: make(map[netip.Addr]*failures), turns: make(map[netip.Addr]*turn)}
}

// enter waits for ip's turn to check a password; leave gives it back.
// Over the per-address or overall cap it returns errBusy at once.
func (g *guard) enter(ctx context.Context, ip netip.Addr) (leave func(), err error) {
	g.mu.Lock()
	t := g.turns[ip]
	if t != nil && t.n >= maxChecksPerAddr || g.inFlight >= maxChecksInFlight {
		g.mu.Unlock()
		return nil, errBusy
	}
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		g.turns[ip] = t
	}
	t.n++
	g.inFlight++
	g.mu.Unlock()
	forget := func() {
		g.mu.Lock()
		g.inFlight--
		if t.n--; t.n == 0 {
			delete(g.turns, ip)
		}
		g.mu.Unlock()
	}
	select {
	case t.ch <- struct{}{}:
		return func() { <-t.ch; forget() }, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

// failures returns ip's failed logins in the current window.
func (g *guard) failureCount(ip netip.Addr) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.addrs[ip]; f != nil {
		return f.n
	}
	return 0
}

// banned reports whether ip may not log in at now.
func (g *guard) banned(ip netip.Addr, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.addrs[ip]
	if f == nil {
		return false
	}
	if !f.until.IsZero() {
		if now.Before(f.until) {
			return true
		}
		delete(g.addrs, ip)
	}
	return false
}

// failed records a refused login from ip and reports whether it was the
// one that got ip banned.
func (g *guard) failed(ip netip.Addr, now time.Time) bool {
	if g.after <= 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.addrs[ip]
	if f == nil || now.Sub(f.first) > g.span && f.until.IsZero() {
		if len(g.addrs) >= maxTrackedAddrs {
			g.prune(now)
		}
		f = &failures{first: now}
		g.addrs[ip] = f
	}
	f.n++
	if f.n >= g.after && f.until.IsZero() {
		f.until = now.Add(g.span)
		return true
	}
	return false
}

// prune drops expired entries, or everything if none had expired. Caller
// holds mu.
func (g *guard) prune(now time.Time) {
	for ip, f := range g.addrs {
		if f.until.IsZero() && now.Sub(f.first) > g.span || !f.until.IsZero() && now.After(f.until) {
			delete(g.addrs, ip)
		}
	}
	if len(g.addrs) >= maxTrackedAddrs {
		clear(g.addrs)
	}
}

// ban bans ip for the guard's span from now, whatever its count: another
// protocol's engine decided it.
func (g *guard) ban(ip netip.Addr, now time.Time) {
	if g.after <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.addrs[ip]
	if f == nil {
		if len(g.addrs) >= maxTrackedAddrs {
			g.prune(now)
		}
		f = &failures{first: now}
		g.addrs[ip] = f
	}
	if f.until.IsZero() || f.until.Before(now) {
		f.until = now.Add(g.span)
	}
}

// errBanned refuses a login from an address the share's guard banned.
var errBanned = fmt.Errorf("address banned after repeated failed logins: %w", accounts.ErrAddressRefused)

// guardedAuth refuses every login from a banned address before asking the
// accounts, so a ban earned on one protocol holds on the other: the FTP
// engine keeps its own ban list, which the share cannot reach, but every
// login of both protocols goes through this one Authenticator.
type guardedAuth struct {
	accounts.Authenticator
	g *guard
}

func (a guardedAuth) Login(ctx context.Context, name, password string, info accounts.LoginInfo) (accounts.Session, error) {
	if a.g.banned(info.Remote.Unmap(), time.Now()) {
		return nil, errBanned
	}
	return a.Authenticator.Login(ctx, name, password, info)
}

// banRefusal is what a banned address reads when it opens an FTP
// connection: the engine's own words for its own bans.
const banRefusal = "421 Too many failed logins from your address; try again later.\r\n"

// guardedListener turns away FTP connections from banned addresses at
// accept, before the engine sees them, as the engine does for its own bans.
type guardedListener struct {
	net.Listener
	g *guard
}

func (l guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return c, err
		}
		ap, perr := netip.ParseAddrPort(c.RemoteAddr().String())
		if perr != nil || !l.g.banned(ap.Addr().Unmap(), time.Now()) {
			return c, nil
		}
		// A short write with a deadline, off the accept loop, so a flood
		// from a banned address costs little.
		go func() {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, banRefusal)
			c.Close()
		}()
	}
}
