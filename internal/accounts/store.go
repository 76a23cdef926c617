package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StoredUser is a user as the store keeps it: settings, usage and the
// password hash (PHC argon2id or bcrypt), never the password.
type StoredUser struct {
	User
	PasswordHash string
}

// Store keeps users and their usage. It is the seam behind DB: SQLite
// (sqlite.go) for one node, PostgreSQL (postgres.go) for several; an
// implementation must pass the shared suite in store_test.go.
//
// Contract: every method is safe for concurrent use; AddUsage is a delta
// applied by the store itself (never read-modify-write by the caller), and
// usage never goes below zero. Missing users give ErrNotFound, duplicates
// ErrExists.
type Store interface {
	AddUser(ctx context.Context, u StoredUser) error
	GetUser(ctx context.Context, name string) (StoredUser, error)
	// UpdateUser replaces the settings of u.Name; usage and hash stay.
	UpdateUser(ctx context.Context, u User) error
	SetPasswordHash(ctx context.Context, name, hash string) error
	DeleteUser(ctx context.Context, name string) error
	// ListUsers returns every user, sorted by name.
	ListUsers(ctx context.Context) ([]StoredUser, error)
	AddUsage(ctx context.Context, name string, bytes, files int64) error
	SetUsage(ctx context.Context, name string, bytes, files int64) error
	// ReplaceUsers adds users in one transaction, replacing existing ones
	// of the same name when replace is set (else ErrExists changes nothing).
	ReplaceUsers(ctx context.Context, users []StoredUser, replace bool) error
	// Changed reports whether another writer (another process, or another
	// Store on the same database) committed since the last call. The first
	// call reports false. It never waits for a write in progress: it
	// returns ErrBusy instead, so a caller on a hot path (Session.User)
	// never queues behind a slow writer.
	Changed(ctx context.Context) (bool, error)

	// Admin accounts (the web admin and its API) live beside the users
	// but apart from them. Missing admins give ErrNotFound, duplicates
	// ErrExists; AdminByToken finds the admin whose TokenHash is hash.
	AddAdmin(ctx context.Context, a Admin) error
	GetAdmin(ctx context.Context, name string) (Admin, error)
	AdminByToken(ctx context.Context, hash string) (Admin, error)
	// SetAdminToken replaces name's token hash ("" revokes it).
	SetAdminToken(ctx context.Context, name, hash string) error
	SetAdminPasswordHash(ctx context.Context, name, hash string) error
	// ListAdmins returns every admin, sorted by name.
	ListAdmins(ctx context.Context) ([]Admin, error)
	DeleteAdmin(ctx context.Context, name string) error

	Close() error
}

// Admin is an admin account as the store keeps it: hashes, never the
// password or the token.
type Admin struct {
	Name         string
	PasswordHash string
	TokenHash    string // SHA-256 hex of the bearer token; "" none
	Created      time.Time
}

// InvalidError reports input that can never be accepted as given (a bad
// user name, home, hash or import file), as opposed to a failure of the
// store: a command line maps it to a usage error.
type InvalidError struct{ msg string }

func (e *InvalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &InvalidError{msg: fmt.Sprintf(format, args...)}
}

// ErrBusy is returned by Store.Changed when it would have to wait.
var ErrBusy = errors.New("store busy")
