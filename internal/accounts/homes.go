package accounts

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Homes is where users' homes are stored when it is not the local disk
// under their paths (Options.Homes): an object store, where a home is a
// key prefix. Each method takes the home as stored with the user (an
// absolute path, checked by checkHome).
type Homes interface {
	// Make creates the home if the storage needs it created.
	Make(ctx context.Context, home string) error
	// Usage sums the regular files (objects) below the home.
	Usage(ctx context.Context, home string) (bytes, files int64, err error)
	// Remove deletes the home and everything in it (user del --purge).
	Remove(ctx context.Context, home string) error
}

// HomeName is the name of a home inside a storage that holds every home
// (an object store's key prefix below its own prefix): the home's path
// below DATA/home when it is there (the default: the user name), else its
// absolute path without the leading slash. dataDir is the data directory.
func HomeName(dataDir, home string) string {
	home = filepath.Clean(home)
	if rel, err := filepath.Rel(filepath.Join(dataDir, homesDir), home); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(home)[1:]
}

func (db *DB) makeHome(ctx context.Context, home string) error {
	if db.opts.Homes != nil {
		return db.opts.Homes.Make(ctx, home)
	}
	return os.MkdirAll(home, homeMode)
}

// homeUsage sums the regular files below home (symbolic links are not
// followed).
func (db *DB) homeUsage(ctx context.Context, home string) (bytes, files int64, err error) {
	if db.opts.Homes != nil {
		return db.opts.Homes.Usage(ctx, home)
	}
	err = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			bytes += fi.Size()
			files++
		}
		return nil
	})
	return bytes, files, err
}

// removeHome deletes home (already checked not to hold the data directory).
func (db *DB) removeHome(ctx context.Context, home string) error {
	if db.opts.Homes != nil {
		return db.opts.Homes.Remove(ctx, home)
	}
	if err := os.RemoveAll(home); err != nil {
		return fmt.Errorf("remove %s: %w", home, err)
	}
	return nil
}

// StoredAt says where home is stored when Options.Homes can say (the
// URL of an object store's prefix, another folder), else home itself.
func (db *DB) StoredAt(home string) string {
	if l, ok := db.opts.Homes.(interface{ StoredAt(string) string }); ok {
		return l.StoredAt(home)
	}
	return home
}
