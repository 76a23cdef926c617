package accounts

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MemoryUser is an account of a Memory authenticator.
type MemoryUser struct {
	User User
	// Password is hashed at construction and never kept. Empty means no
	// password can log in, unless AnyPassword is set or the user is the
	// anonymous one.
	Password string
	// AnyPassword accepts every password, for throwaway test accounts.
	AnyPassword bool
}

// Memory is an Authenticator that keeps its users in memory: for tests and
// for the quick share, which has no data directory. It applies the same
// login rules, password hashing and quota semantics as the store.
//
// A user named "anonymous" enables anonymous access: the names "anonymous"
// and "ftp" then log in to it with any password.
type Memory struct {
	v     *verifier
	slots slots

	mu    sync.RWMutex
	users map[string]*memUser // guarded by mu
}

type memUser struct {
	acct *account // immutable; the user's shared quota account
	lim  limits   // the user's shared rate limiters

	mu          sync.RWMutex
	user        User   // guarded by mu
	hash        string // guarded by mu
	anyPassword bool   // guarded by mu
}

// NewMemory builds a Memory authenticator holding users.
func NewMemory(users ...MemoryUser) *Memory {
	return NewMemoryWith(DefaultArgon2(), users...)
}

// NewMemoryWith is NewMemory with chosen hash costs for new passwords.
func NewMemoryWith(p Argon2Params, users ...MemoryUser) *Memory {
	m := &Memory{v: newVerifier(p), users: make(map[string]*memUser)}
	for _, mu := range users {
		m.put(mu)
	}
	return m
}

func (m *Memory) put(mu MemoryUser) {
	e := &memUser{acct: &account{}, user: cloneUser(mu.User), anyPassword: mu.AnyPassword}
	if mu.Password != "" {
		e.hash = m.v.hash(mu.Password)
	}
	e.acct.usedBytes, e.acct.usedFiles = mu.User.UsedBytes, mu.User.UsedFiles
	e.acct.setLimits(mu.User.QuotaBytes, mu.User.QuotaFiles)
	m.mu.Lock()
	m.users[mu.User.Name] = e
	m.mu.Unlock()
}

// SetUser changes a user's settings live: open sessions see them on their
// next User call, and quota limits apply to the next Reserve. The usage
// fields of u are ignored (the live account keeps counting). An unknown
// user is added, without a password.
func (m *Memory) SetUser(u User) {
	m.mu.RLock()
	e := m.users[u.Name]
	m.mu.RUnlock()
	if e == nil {
		m.put(MemoryUser{User: u})
		return
	}
	e.mu.Lock()
	e.user = cloneUser(u)
	e.mu.Unlock()
	e.acct.setLimits(u.QuotaBytes, u.QuotaFiles)
}

// SetPassword replaces a user's password; sessions already open stay open.
func (m *Memory) SetPassword(name, password string) error {
	m.mu.RLock()
	e := m.users[name]
	m.mu.RUnlock()
	if e == nil {
		return ErrNotFound
	}
	h := m.v.hash(password)
	e.mu.Lock()
	e.hash = h
	e.mu.Unlock()
	m.v.forget(name)
	return nil
}

// Login implements Authenticator.
func (m *Memory) Login(ctx context.Context, name, password string, info LoginInfo) (Session, error) {
	m.mu.RLock()
	anon := m.users[AnonymousUser]
	// Names are case-insensitive (CanonicalName); a user set up with
	// capitals is still found by its exact name.
	e := m.users[CanonicalName(name)]
	if e == nil {
		e = m.users[name]
	}
	m.mu.RUnlock()
	if anon != nil && isAnonymousName(name) {
		e = anon
	} else {
		var hash string
		var any bool
		if e != nil {
			e.mu.RLock()
			hash, any = e.hash, e.anyPassword
			e.mu.RUnlock()
		}
		if !any {
			// A user without a password is checked against the dummy hash
			// and refused, like an unknown one.
			ok, err := m.v.Check(ctx, name, hash, password)
			if err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !ok || e == nil {
				return nil, ErrBadCredentials
			}
		}
	}
	e.mu.RLock()
	u := e.user
	e.mu.RUnlock()
	if err := checkAccount(u, info, time.Now()); err != nil {
		return nil, err
	}
	if !m.slots.acquire(u.Name, u.MaxSessions) {
		return nil, ErrTooManySessions
	}
	return &memSession{m: m, e: e, name: u.Name}, nil
}

// fullChecks reports how many logins paid the full hash cost (for tests).
func (m *Memory) fullChecks() int64 { return m.v.fullChecks.Load() }

type memSession struct {
	m     *Memory
	e     *memUser
	name  string
	close sync.Once
}

func (s *memSession) User() User {
	s.e.mu.RLock()
	u := s.e.user
	s.e.mu.RUnlock()
	u.UsedBytes, u.UsedFiles = s.e.acct.committed()
	return u
}

func (s *memSession) Quota() Quota { return s.e.acct }

func (s *memSession) Limits() (up, down *rate.Limiter) { return s.e.lim.get(s.User()) }

func (s *memSession) Close() error {
	s.close.Do(func() { s.m.slots.release(s.name) })
	return nil
}
