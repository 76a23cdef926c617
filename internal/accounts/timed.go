package accounts

import (
	"context"
	"time"
)

// LoginStats reports how many successful logins were served by the
// password verification cache and how many verifications paid the full
// hash cost, since Open.
func (db *DB) LoginStats() (cacheHits, fullChecks int64) {
	return db.v.cacheHits.Load(), db.v.fullChecks.Load()
}

// timedStore reports the latency of each call of the Store it wraps
// (Options.StoreTiming). It forwards Version, which DB looks for.
type timedStore struct {
	Store
	observe func(op string, d time.Duration)
}

func (s timedStore) since(op string, t time.Time) { s.observe(op, time.Since(t)) }

func (s timedStore) AddUser(ctx context.Context, u StoredUser) error {
	defer s.since("AddUser", time.Now())
	return s.Store.AddUser(ctx, u)
}

func (s timedStore) GetUser(ctx context.Context, name string) (StoredUser, error) {
	defer s.since("GetUser", time.Now())
	return s.Store.GetUser(ctx, name)
}

func (s timedStore) UpdateUser(ctx context.Context, u User) error {
	defer s.since("UpdateUser", time.Now())
	return s.Store.UpdateUser(ctx, u)
}

func (s timedStore) SetPasswordHash(ctx context.Context, name, hash string) error {
	defer s.since("SetPasswordHash", time.Now())
	return s.Store.SetPasswordHash(ctx, name, hash)
}

func (s timedStore) DeleteUser(ctx context.Context, name string) error {
	defer s.since("DeleteUser", time.Now())
	return s.Store.DeleteUser(ctx, name)
}

func (s timedStore) ListUsers(ctx context.Context) ([]StoredUser, error) {
	defer s.since("ListUsers", time.Now())
	return s.Store.ListUsers(ctx)
}

func (s timedStore) AddUsage(ctx context.Context, name string, bytes, files int64) error {
	defer s.since("AddUsage", time.Now())
	return s.Store.AddUsage(ctx, name, bytes, files)
}

func (s timedStore) SetUsage(ctx context.Context, name string, bytes, files int64) error {
	defer s.since("SetUsage", time.Now())
	return s.Store.SetUsage(ctx, name, bytes, files)
}

func (s timedStore) ReplaceUsers(ctx context.Context, users []StoredUser, replace bool) error {
	defer s.since("ReplaceUsers", time.Now())
	return s.Store.ReplaceUsers(ctx, users, replace)
}

func (s timedStore) Changed(ctx context.Context) (bool, error) {
	defer s.since("Changed", time.Now())
	return s.Store.Changed(ctx)
}

// Version is the wrapped store's, untimed: it is the cheap check DB
// makes before each login and is not a store round trip worth a series.
func (s timedStore) Version(ctx context.Context) (int64, bool) {
	if vs, ok := s.Store.(versioner); ok {
		return vs.Version(ctx)
	}
	return 0, false
}
