package share

import (
	"net/netip"
	"sync"
	"time"
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
)

// guard counts failed logins per address and bans repeat offenders.
type guard struct {
	after int           // failures before a ban; <= 0: never ban
	span  time.Duration // counting window and ban length

	mu    sync.Mutex
	addrs map[netip.Addr]*failures // guarded by mu
}

type failures struct {
	n     int
	first time.Time // start of the counting window
	until time.Time // banned until; zero: not banned
}

func newGuard(after int, span time.Duration) *guard {
	return &guard{after: after, span: span, addrs: make(map[netip.Addr]*failures)}
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
