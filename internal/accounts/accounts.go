// Package accounts owns users: who they are, how their passwords are checked,
// where their home is, what they may do there and how much disk they may fill.
//
// It exposes the contract the protocol engines consume (Authenticator,
// Session, Quota) and the Store behind it. It must never speak a network
// protocol, never touch files in a user's home except to create it, purge it
// or rescan its usage, and never keep or log a password in plain text.
package accounts

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"golang.org/x/time/rate"
)

// Perm is a set of operations a user may perform in their home. Each is
// checked by the engine before the operation touches the disk.
type Perm uint32

const (
	PermList      Perm = 1 << iota // LIST, NLST, MLSD, MLST, STAT path
	PermDownload                   // RETR, checksums
	PermUpload                     // STOR, STOU of a new file
	PermOverwrite                  // STOR over an existing file
	PermAppend                     // APPE, REST+STOR (resume)
	PermDelete                     // DELE
	PermRename                     // RNFR/RNTO
	PermMkdir                      // MKD
	PermRmdir                      // RMD
	PermSetTime                    // MFMT

	PermNone Perm = 0
	// PresetFull grants everything.
	PresetFull = PermList | PermDownload | PermUpload | PermOverwrite | PermAppend |
		PermDelete | PermRename | PermMkdir | PermRmdir | PermSetTime
	// PresetReadOnly lists and downloads.
	PresetReadOnly = PermList | PermDownload
	// PresetUploadOnly is a drop box: new files and folders in, nothing out.
	PresetUploadOnly = PermUpload | PermMkdir
)

// Has reports whether every permission in q is in p.
func (p Perm) Has(q Perm) bool { return p&q == q }

// User is an account's settings as the admin set them, plus its usage.
// Zero limits mean unlimited.
type User struct {
	Name        string         `json:"name"`
	Home        string         `json:"home"` // absolute directory
	Perms       Perm           `json:"-"`
	QuotaBytes  int64          `json:"quota_bytes"`
	QuotaFiles  int64          `json:"quota_files"`
	RateUp      int64          `json:"rate_up"`   // bytes/s the user may upload
	RateDown    int64          `json:"rate_down"` // bytes/s the user may download
	MaxSessions int            `json:"max_sessions"`
	AllowFrom   []netip.Prefix `json:"allow_from,omitempty"` // empty: any address
	TLSRequired bool           `json:"tls_required"`
	Disabled    bool           `json:"disabled"`
	Expires     time.Time      `json:"expires,omitzero"` // zero: never
	UsedBytes   int64          `json:"used_bytes"`
	UsedFiles   int64          `json:"used_files"`
	// PathPerms override Perms below some folders (see PermsFor); the
	// engine must check PermsFor(path), not Perms, before an operation.
	PathPerms []PathPerm `json:"path_perms,omitempty"`
}

// LoginInfo is what the engine knows about the connection asking to log in.
type LoginInfo struct {
	Remote netip.Addr
	TLS    bool // the control connection is encrypted
}

// Login refusals. An unknown user and a wrong password are the same error,
// and cost the same time, so a client cannot probe for names.
var (
	ErrBadCredentials  = errors.New("login incorrect")
	ErrDisabled        = errors.New("account disabled")
	ErrExpired         = errors.New("account expired")
	ErrAddressRefused  = errors.New("address not allowed for this account")
	ErrTLSRequired     = errors.New("account requires TLS")
	ErrTooManySessions = errors.New("too many sessions for this account")
	// ErrQuotaExceeded means the byte or file quota has no room left.
	ErrQuotaExceeded = errors.New("quota exceeded")
	ErrNotFound      = errors.New("no such user")
	ErrExists        = errors.New("user already exists")
)

// Authenticator checks credentials. It is the engine's only way in.
type Authenticator interface {
	// Login verifies name and password for a connection described by info
	// and opens a Session. It returns one of the Err* refusals above.
	Login(ctx context.Context, name, password string, info LoginInfo) (Session, error)
}

// Session is one logged-in connection of a user.
type Session interface {
	// User returns the account's current settings. Admin changes made while
	// the session runs show on the next call, so the engine calls it once per
	// command rather than caching it.
	User() User
	// Quota is the user's shared usage account: all sessions of the user
	// draw from the same one.
	Quota() Quota
	// Limits returns the user's upload and download rate limiters, nil
	// when that direction is unlimited. All sessions of the user in the
	// process share them (RateUp and RateDown are the user's, not each
	// session's); an admin's rate change applies to them in place, at the
	// latest by the next Limits or User call.
	Limits() (up, down *rate.Limiter)
	// Close releases the session's slot in the user's session count.
	Close() error
}

// Usage is a snapshot of a user's quota account.
type Usage struct {
	UsedBytes, QuotaBytes int64 // QuotaBytes 0: unlimited
	UsedFiles, QuotaFiles int64 // QuotaFiles 0: unlimited
}

// Quota tracks a user's usage incrementally; it never walks the home.
// Writers reserve room before writing and commit what they wrote, so
// concurrent sessions can never together pass the limit.
type Quota interface {
	// Reserve asks for room for up to want more bytes and returns what was
	// granted: want, or less at the limit. Granted bytes count against the
	// limit until Commit (they are not usage). It returns 0 with
	// ErrQuotaExceeded when committed usage leaves no room. When the room
	// left is held by reservations in flight, a writer marked with
	// WithWriter waits (until ctx ends) for the other writers' to be
	// committed, then gets what is truly free; it is refused only if the
	// rest is its own. An unmarked caller cannot be told from the holders
	// and is refused at once.
	Reserve(ctx context.Context, want int64) (granted int64, err error)
	// Commit ends a reservation: written (at most reserved) bytes become
	// usage, the rest is returned.
	Commit(ctx context.Context, reserved, written int64) error
	// Adjust changes usage unconditionally by the given deltas, as after a
	// delete (negative) or truncation. A positive files delta that would pass
	// the file quota fails with ErrQuotaExceeded and changes nothing.
	Adjust(ctx context.Context, bytes, files int64) error
	// Allowance lets the writer of ctx (marked with WithWriter) pass the
	// byte limit by up to bytes, replacing any earlier allowance; 0 drops
	// it. It is the room of a file the writer's upload is to replace: that
	// file stays counted until the upload commits over it, so the upload
	// can take its place without anyone else getting its room meanwhile.
	Allowance(ctx context.Context, bytes int64) error
	// Record changes usage by the deltas of a change already made on disk
	// (a file renamed into place, one removed): it is never refused, so
	// usage follows the disk even past a limit. Refusals belong before the
	// change, with Reserve or Adjust.
	Record(ctx context.Context, bytes, files int64) error
	// Recount replaces usage with figures counted on disk (a walk of a
	// home nobody writes to meanwhile), live and in the store, so deltas
	// lost in a crash cannot outlive the next count.
	Recount(ctx context.Context, bytes, files int64) error
	// Usage returns committed usage: reservations in flight are not in it.
	Usage(ctx context.Context) (Usage, error)
}

// UploadTracker is a Quota whose uploads outlive the process that runs
// them: a cluster's, where another node may have to settle the temporary
// file of an upload whose node died. The engine discovers it by a type
// assertion; a Quota of one process needs none (its crash recovery
// recounts the home).
type UploadTracker interface {
	// EndUpload ends the tracking of the upload of ctx (marked with
	// WithUpload), once its file is committed or removed.
	EndUpload(ctx context.Context)
	// SettleOrphan is asked about the temporary file label (as given to
	// WithUpload), which holds stored bytes and no upload of this process
	// owns. If its writer is dead, usage is made to count the file by
	// stored and OrphanSettled is returned: the caller then settles the
	// file (renames or removes it) as its own broken upload. OrphanLive
	// means a writer elsewhere still holds it; OrphanUnknown that the
	// tracker never saw it.
	SettleOrphan(ctx context.Context, label string, stored int64) (OrphanState, error)
}

// OrphanState is SettleOrphan's answer.
type OrphanState int

const (
	OrphanUnknown OrphanState = iota
	OrphanLive
	OrphanSettled
)

// NameLocker is a Quota whose user's files other processes change too: a
// cluster's nodes on one shared folder. The engine's commit rule counts
// what a commit, DELE or RNTO did to a name under that name's lock; its
// own locks hold within the process, and LockNames extends them to every
// process sharing the storage. The engine discovers it by a type assertion.
type NameLocker interface {
	// LockNames holds keys (names unique to one file of the shared
	// storage) against every other process's LockNames until unlock is
	// called. Keys are taken in a fixed order, so callers cannot
	// deadlock. It fails with ErrWrittenInPlace, holding nothing, while
	// another process holds one of the keys with HoldInPlace.
	LockNames(ctx context.Context, keys ...string) (unlock func(), err error)
	// HoldInPlace holds key for a write in place until release is
	// called: other processes' LockNames of it fail meanwhile. It fails
	// with ErrWrittenInPlace while another process holds it so.
	HoldInPlace(ctx context.Context, key string) (release func(), err error)
	// Credit is Quota.Allowance for the replacement of the file key, held
	// across processes: it reports false (no allowance given) while
	// another writer anywhere holds that file's room; bytes 0 ends the
	// writer's credit.
	Credit(ctx context.Context, key string, bytes int64) (bool, error)
	// Revoke ends any writer's credit on the file key; the caller is
	// taking the file away and holds its LockNames.
	Revoke(ctx context.Context, key string) error
}

// ErrWrittenInPlace refuses a change to a file another process (another
// node) is writing in place.
var ErrWrittenInPlace = errors.New("file written in place by another process")
