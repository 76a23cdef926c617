package accounts

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// checkAccount applies the account rules that follow a correct password, in
// the documented order; the session count comes last, in slots.acquire.
func checkAccount(u User, info LoginInfo, now time.Time) error {
	if u.Disabled {
		return ErrDisabled
	}
	if !u.Expires.IsZero() && !now.Before(u.Expires) {
		return ErrExpired
	}
	if len(u.AllowFrom) > 0 {
		addr := info.Remote.Unmap()
		ok := false
		for _, p := range u.AllowFrom {
			if addr.IsValid() && p.Contains(addr) {
				ok = true
				break
			}
		}
		if !ok {
			return ErrAddressRefused
		}
	}
	if u.TLSRequired && !info.TLS {
		return ErrTLSRequired
	}
	return nil
}

// isAnonymousName reports whether a login name asks for anonymous access.
func isAnonymousName(name string) bool {
	return strings.EqualFold(name, AnonymousUser) || strings.EqualFold(name, "ftp")
}

// AnonymousUser is the account name anonymous logins ("anonymous" or "ftp",
// any password) are mapped to.
const AnonymousUser = "anonymous"

// slots counts open sessions per user in this process.
type slots struct {
	mu sync.Mutex
	n  map[string]int // guarded by mu
}

// acquire takes a session slot for name unless max (0: unlimited) are taken.
func (s *slots) acquire(name string, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = make(map[string]int)
	}
	if max > 0 && s.n[name] >= max {
		return false
	}
	s.n[name]++
	return true
}

func (s *slots) release(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[name] <= 1 {
		delete(s.n, name)
		return
	}
	s.n[name]--
}

// count returns the open sessions of name.
func (s *slots) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[name]
}

func clonePrefixes(p []netip.Prefix) []netip.Prefix {
	if p == nil {
		return nil
	}
	return append([]netip.Prefix(nil), p...)
}

// cloneUser copies the slices of u, so a caller mutating its copy cannot
// change what sessions see.
func cloneUser(u User) User {
	u.AllowFrom = clonePrefixes(u.AllowFrom)
	if u.PathPerms != nil {
		u.PathPerms = append([]PathPerm(nil), u.PathPerms...)
	}
	return u
}
