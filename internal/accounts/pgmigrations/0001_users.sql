-- Users and their usage, as in the SQLite schema (migrations/0001_users.sql):
-- limits of 0 mean unlimited, times are Unix seconds (0: never), usage
-- changes only by deltas or a rescan.
CREATE TABLE users (
	name          text PRIMARY KEY,
	password_hash text NOT NULL,
	home          text NOT NULL,
	perms         bigint NOT NULL,
	path_perms    text NOT NULL DEFAULT '',  -- JSON list of {dir, perms}
	quota_bytes   bigint NOT NULL DEFAULT 0,
	quota_files   bigint NOT NULL DEFAULT 0,
	rate_up       bigint NOT NULL DEFAULT 0,
	rate_down     bigint NOT NULL DEFAULT 0,
	max_sessions  bigint NOT NULL DEFAULT 0,
	allow_from    text NOT NULL DEFAULT '',  -- comma-separated CIDR prefixes
	tls_required  boolean NOT NULL DEFAULT false,
	disabled      boolean NOT NULL DEFAULT false,
	expires       bigint NOT NULL DEFAULT 0,
	used_bytes    bigint NOT NULL DEFAULT 0,
	used_files    bigint NOT NULL DEFAULT 0,
	created       bigint NOT NULL,
	updated       bigint NOT NULL
);

-- Every change of a user row is announced on channel wharf_users as
-- "STORE NAME", STORE being the writer's wharf.store setting (each Store
-- sets its own), so a store can tell other writers' changes from its own.
CREATE FUNCTION wharf_users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('wharf_users',
		coalesce(current_setting('wharf.store', true), '') || ' ' || coalesce(NEW.name, OLD.name));
	RETURN NULL;
END $$;

CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION wharf_users_notify();
