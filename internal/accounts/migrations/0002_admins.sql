-- Accounts of the web admin and its API (wharf admin add). They are not FTP
-- users: an admin has no home and cannot log in over FTP. token_hash is the
-- SHA-256 (hex) of the admin's bearer token, '' for none; the token itself
-- is shown once and never stored.
CREATE TABLE admins (
	name          TEXT PRIMARY KEY NOT NULL,
	password_hash TEXT NOT NULL,
	token_hash    TEXT NOT NULL DEFAULT '',
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX admins_token ON admins (token_hash) WHERE token_hash <> '';
