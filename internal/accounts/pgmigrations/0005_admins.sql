-- Accounts of the web admin and its API, as in the SQLite schema
-- (migrations/0002_admins.sql): token_hash is the SHA-256 (hex) of the
-- bearer token, '' for none.
CREATE TABLE admins (
	name          text PRIMARY KEY,
	password_hash text NOT NULL,
	token_hash    text NOT NULL DEFAULT '',
	created       bigint NOT NULL,
	updated       bigint NOT NULL
);
CREATE UNIQUE INDEX admins_token ON admins (token_hash) WHERE token_hash <> '';
