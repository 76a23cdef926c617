package accounts

import (
	"context"
	"errors"
	"fmt"
)

// Uploads a cluster's database tracks, for storages where an upload is
// not a file until it completes (S3: a multipart upload, which no listing
// of the home shows). There the temporary-file recovery of a dead node's
// upload (UploadTracker.SettleOrphan, asked about a file found in the
// home) never runs, so the storage's own sweep asks the database which
// uploads are live, and settles those whose node died.

// TrackedUpload is an upload's reservation row (see WithUpload).
type TrackedUpload struct {
	User  string // the user's name
	Home  string // the user's home, as stored
	Label string // WithUpload's label: the upload's temporary name, relative to the home
	Live  bool   // a node renews it (or its lease has not ended yet)
}

// ErrNotTracked is returned by the tracked-upload calls of a DB whose
// uploads are not tracked (a store of one process: SQLite).
var ErrNotTracked = errors.New("accounts: uploads are not tracked outside a cluster's database")

// TrackedUploads returns every upload row of the cluster's database.
func (db *DB) TrackedUploads(ctx context.Context) ([]TrackedUpload, error) {
	if db.pg == nil {
		return nil, ErrNotTracked
	}
	rows, err := db.pg.pool.Query(ctx, `SELECT r.name, u.home, r.label, bool_or(r.lease_ms >= $1)
		FROM wharf_reservations r JOIN users u ON u.name = r.name
		WHERE r.label <> '' GROUP BY r.name, u.home, r.label`, nowMS())
	if err != nil {
		return nil, fmt.Errorf("%w: tracked uploads: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []TrackedUpload
	for rows.Next() {
		var t TrackedUpload
		if err := rows.Scan(&t.User, &t.Home, &t.Label, &t.Live); err != nil {
			return nil, fmt.Errorf("%w: tracked uploads: %v", ErrUnavailable, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: tracked uploads: %v", ErrUnavailable, err)
	}
	return out, nil
}

// SettleVanished settles the upload labelled label of user whose node
// died and whose bytes are gone with it (an S3 multipart upload, never
// completed): usage loses what the upload had counted, and files (1 for
// an upload that had taken a file of the quota for a new name, else 0).
// It reports false when a writer still holds the upload or it was settled
// already; the row and the usage change go in one transaction.
func (db *DB) SettleVanished(ctx context.Context, user, label string, files int64) (bool, error) {
	if db.pg == nil {
		return false, ErrNotTracked
	}
	tx, err := db.pg.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("%w: settle vanished upload: %v", ErrUnavailable, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var st string
	if err := tx.QueryRow(ctx, "SELECT wharf_orphan($1, $2, 0, $3)", user, label, nowMS()).Scan(&st); err != nil {
		return false, fmt.Errorf("%w: settle vanished upload: %v", ErrUnavailable, err)
	}
	if st != "settled" {
		return false, nil
	}
	if files > 0 {
		if _, err := tx.Exec(ctx, "UPDATE users SET used_files = greatest(0, used_files - $2) WHERE name = $1", user, files); err != nil {
			return false, fmt.Errorf("%w: settle vanished upload: %v", ErrUnavailable, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("%w: settle vanished upload: %v", ErrUnavailable, err)
	}
	return true, nil
}

// UploadsLive reports whether some node (this one included) has an upload
// of the account's user running: a count of the home then misses what
// those uploads counted and a storage does not show (implements
// LiveUploads).
func (a *clusterAccount) UploadsLive(ctx context.Context) (bool, error) {
	var live bool
	err := a.pg.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM wharf_reservations WHERE name = $1 AND label <> '' AND lease_ms >= $2)",
		a.name, nowMS()).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("%w: live uploads: %v", ErrUnavailable, err)
	}
	return live, nil
}

// LiveUploads is a Quota that knows whether uploads of its user run on
// other processes (a cluster's), which the recount of a home must not
// run under when the storage does not show them.
type LiveUploads interface {
	UploadsLive(ctx context.Context) (bool, error)
}

// TracksUploads reports whether the database tracks uploads across
// processes (a cluster's PostgreSQL): TrackedUploads and SettleVanished
// then work.
func (db *DB) TracksUploads() bool { return db.pg != nil }
