package accounts

import (
	"context"
	"path/filepath"
	"strings"
)

// DefaultDB is the database a data directory uses unless told otherwise.
const DefaultDB = "sqlite:" + dbFile

// OpenStore opens the Store named by url, migrating its schema:
// "sqlite:PATH" (a relative PATH is inside dataDir; "" means
// DefaultDB), or a PostgreSQL connection string: a postgres:// or
// postgresql:// URL or libpq's keyword/value form ("host=... dbname=..."),
// with the PG* environment variables filling in what it leaves out.
func OpenStore(ctx context.Context, url, dataDir string) (Store, error) {
	kind, arg, err := ParseDB(url)
	if err != nil {
		return nil, err
	}
	if kind == "postgres" {
		return openPostgres(ctx, arg)
	}
	if !filepath.IsAbs(arg) {
		arg = filepath.Join(dataDir, arg)
	}
	return openSQLite(ctx, arg)
}

// ParseDB checks a --db value and returns its kind ("sqlite" or
// "postgres") and the path or connection string.
func ParseDB(url string) (kind, arg string, err error) {
	if url == "" {
		url = DefaultDB
	}
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		p := strings.TrimPrefix(url, "sqlite:")
		p = strings.TrimPrefix(p, "//") // sqlite:///abs/path
		if p == "" {
			return "", "", invalidf("database %q: sqlite: needs a file path", url)
		}
		return "sqlite", p, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"),
		strings.Contains(url, "=") && !strings.Contains(url, "://"):
		if _, err := pgConfig(url); err != nil {
			return "", "", err
		}
		return "postgres", url, nil
	}
	return "", "", invalidf("database %q: want sqlite:PATH or a postgres:// URL", url)
}

// Where names db's database for messages: the SQLite file, or the
// PostgreSQL connection string without its password.
func (db *DB) Where() string {
	kind, arg, err := ParseDB(db.opts.DB)
	switch {
	case db.pg != nil && err == nil && kind == "postgres":
		return redactConn(arg)
	case db.pg != nil:
		return "postgres"
	case err == nil && kind == "sqlite" && !filepath.IsAbs(arg):
		return filepath.Join(db.dir, arg)
	case err == nil && kind == "sqlite":
		return arg
	}
	return db.opts.DB
}
