-- State that must hold across the nodes of a cluster. Times are Unix
-- milliseconds of the node that wrote them.

-- Failed logins and bans by client address (the engine's ban rule, shared).
CREATE TABLE wharf_bans (
	ip        text PRIMARY KEY,
	failures  integer NOT NULL,
	first_ms  bigint NOT NULL,  -- first failure of the current window
	until_ms  bigint NOT NULL   -- banned until; 0: not banned
);

-- Open sessions of users with a session limit. A node renews the lease of
-- its own rows; rows of a dead node expire and any node sweeps them.
CREATE TABLE wharf_sessions (
	id        bigserial PRIMARY KEY,
	name      text NOT NULL,
	store     text NOT NULL,
	lease_ms  bigint NOT NULL
);
CREATE INDEX wharf_sessions_name ON wharf_sessions (name);
CREATE INDEX wharf_sessions_store ON wharf_sessions (store);
