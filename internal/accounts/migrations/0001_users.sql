-- Users and their usage. Limits of 0 mean unlimited. Times are Unix seconds,
-- 0 meaning never. Usage columns change only by deltas (used = used + ?) or
-- by a rescan, never by read-modify-write.
CREATE TABLE users (
	name          TEXT PRIMARY KEY NOT NULL,
	password_hash TEXT NOT NULL,
	home          TEXT NOT NULL,
	perms         INTEGER NOT NULL,
	path_perms    TEXT NOT NULL DEFAULT '',  -- JSON list of {dir, perms}
	quota_bytes   INTEGER NOT NULL DEFAULT 0,
	quota_files   INTEGER NOT NULL DEFAULT 0,
	rate_up       INTEGER NOT NULL DEFAULT 0,
	rate_down     INTEGER NOT NULL DEFAULT 0,
	max_sessions  INTEGER NOT NULL DEFAULT 0,
	allow_from    TEXT NOT NULL DEFAULT '',  -- comma-separated CIDR prefixes
	tls_required  INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	expires       INTEGER NOT NULL DEFAULT 0,
	used_bytes    INTEGER NOT NULL DEFAULT 0,
	used_files    INTEGER NOT NULL DEFAULT 0,
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL
) STRICT;
