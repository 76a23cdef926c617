package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Admin accounts sign in to the web admin and its API. They share the
// store, the password hashing and the login-failure rules of FTP users but
// not their namespace: an admin is no FTP user, and an FTP user no admin.

// adminTokenPrefix marks wharf admin tokens, so a leaked one is easy to
// recognise (secret scanners look for such prefixes).
const adminTokenPrefix = "wharf_"

// adminTokenBytes is a token's entropy: 256 bits, so a single SHA-256 of
// it is as strong a stored form as a slow hash (nobody can guess a token,
// and the hash is not reversible); a slow hash would only make every API
// request slow.
const adminTokenBytes = 32

// AdminInfo is what an admin listing shows: never a hash.
type AdminInfo struct {
	Name     string
	HasToken bool
}

// adminCacheName keys an admin's entries in the verifier's cache apart
// from a user of the same name ("\x01" is no valid name character).
func adminCacheName(name string) string { return "\x01admin:" + name }

func wrapAdmin(name string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("admin %s: %w", name, ErrNoAdmin)
	}
	if errors.Is(err, ErrExists) {
		return fmt.Errorf("admin %s: %w", name, ErrAdminExists)
	}
	return err
}

// Admin refusals. ErrNoAdmin and ErrAdminExists wrap ErrNotFound and
// ErrExists, so callers mapping those keep working.
var (
	ErrNoAdmin     = fmt.Errorf("no such admin (%w)", ErrNotFound)
	ErrAdminExists = fmt.Errorf("admin already exists (%w)", ErrExists)
)

// AddAdmin creates admin name with password (argon2id, like users).
func (db *DB) AddAdmin(ctx context.Context, name, password string) error {
	defer db.wrote()
	if err := ValidName(name); err != nil {
		return err
	}
	if password == "" {
		return invalidf("empty password")
	}
	hash, err := db.v.Hash(ctx, password)
	if err != nil {
		return err
	}
	return wrapAdmin(name, db.store.AddAdmin(ctx, Admin{Name: name, PasswordHash: hash}))
}

// SetAdminPassword replaces admin name's password.
func (db *DB) SetAdminPassword(ctx context.Context, name, password string) error {
	defer db.wrote()
	if password == "" {
		return invalidf("empty password")
	}
	hash, err := db.v.Hash(ctx, password)
	if err != nil {
		return err
	}
	if err := db.store.SetAdminPasswordHash(ctx, name, hash); err != nil {
		return wrapAdmin(name, err)
	}
	db.v.forget(adminCacheName(name))
	return nil
}

// NewAdminToken makes a new bearer token for admin name, replacing any
// earlier one, and returns it. Only its hash is stored: the token cannot
// be shown again.
func (db *DB) NewAdminToken(ctx context.Context, name string) (string, error) {
	defer db.wrote()
	b := make([]byte, adminTokenBytes)
	rand.Read(b)
	tok := adminTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	if err := db.store.SetAdminToken(ctx, name, tokenHash(tok)); err != nil {
		return "", wrapAdmin(name, err)
	}
	return tok, nil
}

// RevokeAdminToken removes admin name's token.
func (db *DB) RevokeAdminToken(ctx context.Context, name string) error {
	defer db.wrote()
	return wrapAdmin(name, db.store.SetAdminToken(ctx, name, ""))
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// AdminLogin checks admin name's password. An unknown admin and a wrong
// password are both ErrBadCredentials and cost the same hash, as for FTP
// users; a store failure is ErrUnavailable.
func (db *DB) AdminLogin(ctx context.Context, name, password string) error {
	a, err := db.store.GetAdmin(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	ok, err := db.v.Check(ctx, adminCacheName(name), a.PasswordHash, password)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if !ok || a.Name == "" {
		return ErrBadCredentials
	}
	return nil
}

// AdminByToken returns the name of the admin holding bearer token tok, or
// ErrBadCredentials. The lookup is by the token's hash, an indexed column:
// no comparison of secrets in this process can leak timing.
func (db *DB) AdminByToken(ctx context.Context, tok string) (string, error) {
	if !strings.HasPrefix(tok, adminTokenPrefix) || len(tok) > 200 {
		return "", ErrBadCredentials
	}
	a, err := db.store.AdminByToken(ctx, tokenHash(tok))
	if errors.Is(err, ErrNotFound) {
		return "", ErrBadCredentials
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return a.Name, nil
}

// AdminExists reports whether admin name exists.
func (db *DB) AdminExists(ctx context.Context, name string) (bool, error) {
	_, err := db.store.GetAdmin(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ListAdmins returns the admins sorted by name.
func (db *DB) ListAdmins(ctx context.Context) ([]AdminInfo, error) {
	as, err := db.store.ListAdmins(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AdminInfo, len(as))
	for i, a := range as {
		out[i] = AdminInfo{Name: a.Name, HasToken: a.TokenHash != ""}
	}
	return out, nil
}

// DeleteAdmin removes admin name; its token stops working at once, and its
// page sessions at their next request (they are checked against the store).
func (db *DB) DeleteAdmin(ctx context.Context, name string) error {
	defer db.wrote()
	if err := db.store.DeleteAdmin(ctx, name); err != nil {
		return wrapAdmin(name, err)
	}
	db.v.forget(adminCacheName(name))
	return nil
}
