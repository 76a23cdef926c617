-- Exact quotas across nodes. The users row is the one place a user's
-- limit is decided: room is reserved there before any byte of an upload
-- is read, and settled there, in the same statement as the usage change,
-- once the bytes are written. Every decision locks the row (SELECT ...
-- FOR UPDATE), so the checks of all nodes are one sequence.
ALTER TABLE users ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0;

-- One row per writer (an upload) holding room: its bytes are part of
-- users.reserved_bytes. The node renews the lease of its live writers'
-- rows; a row whose lease ran out belongs to a node that died (or to a
-- reservation whose answer was lost) and any node sweeps it, giving the
-- room back. seq is the last settle applied, so a settle retried after a
-- lost answer is applied once.
CREATE TABLE wharf_reservations (
	id        bigint PRIMARY KEY,
	name      text NOT NULL,
	store     text NOT NULL,
	bytes     bigint NOT NULL,
	seq       bigint NOT NULL DEFAULT 0,
	lease_ms  bigint NOT NULL
);
CREATE INDEX wharf_reservations_lease ON wharf_reservations (lease_ms);

-- A change of reservations alone is no news for other nodes: notices are
-- for settings and usage.
CREATE OR REPLACE FUNCTION wharf_users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'reserved_bytes') = (to_jsonb(NEW) - 'reserved_bytes') THEN
		RETURN NULL;
	END IF;
	PERFORM pg_notify('wharf_users',
		coalesce(current_setting('wharf.store', true), '') || ' ' || coalesce(NEW.name, OLD.name));
	RETURN NULL;
END $$;

-- wharf_reserve grants writer p_id up to p_want bytes of p_name's room
-- (quota + p_allow - used - reserved; everything when unlimited) and
-- returns the grant with the row's figures after it; no row: no user.
CREATE FUNCTION wharf_reserve(p_name text, p_store text, p_id bigint, p_want bigint, p_allow bigint, p_lease bigint)
RETURNS TABLE (o_granted bigint, o_used_bytes bigint, o_used_files bigint, o_reserved bigint, o_quota_bytes bigint, o_quota_files bigint)
LANGUAGE plpgsql AS $$
DECLARE
	u users%ROWTYPE;
	g bigint;
BEGIN
	SELECT * INTO u FROM users WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF u.quota_bytes <= 0 THEN
		g := p_want;
	ELSE
		g := greatest(0, least(p_want, u.quota_bytes + p_allow - u.used_bytes - u.reserved_bytes));
	END IF;
	IF g > 0 THEN
		UPDATE users SET reserved_bytes = u.reserved_bytes + g WHERE name = p_name;
		INSERT INTO wharf_reservations AS r (id, name, store, bytes, lease_ms)
			VALUES (p_id, p_name, p_store, g, p_lease)
			ON CONFLICT (id) DO UPDATE SET bytes = r.bytes + g, lease_ms = p_lease;
		u.reserved_bytes := u.reserved_bytes + g;
	END IF;
	RETURN QUERY SELECT g, u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
END $$;

-- wharf_settle ends part of writer p_id's reservation: it now holds
-- p_held bytes, and p_written bytes became usage. Applied once per p_seq.
-- The user row is locked first, as in wharf_reserve, so the two never
-- wait for each other in opposite orders.
CREATE FUNCTION wharf_settle(p_name text, p_id bigint, p_seq bigint, p_held bigint, p_written bigint)
RETURNS TABLE (o_used_bytes bigint, o_used_files bigint, o_reserved bigint, o_quota_bytes bigint, o_quota_files bigint)
LANGUAGE plpgsql AS $$
DECLARE
	u users%ROWTYPE;
	r wharf_reservations%ROWTYPE;
	d bigint := 0;
BEGIN
	SELECT * INTO u FROM users WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT * INTO r FROM wharf_reservations WHERE id = p_id FOR UPDATE;
	IF FOUND THEN
		IF r.seq >= p_seq THEN
			RETURN QUERY SELECT u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
			RETURN;
		END IF;
		d := p_held - r.bytes;
		UPDATE wharf_reservations SET bytes = p_held, seq = p_seq WHERE id = p_id;
	END IF;
	-- No row: it was swept (its node seemed dead); the bytes are stored
	-- all the same, so they count.
	u.reserved_bytes := greatest(0, u.reserved_bytes + d);
	u.used_bytes := greatest(0, u.used_bytes + p_written);
	UPDATE users SET reserved_bytes = u.reserved_bytes, used_bytes = u.used_bytes WHERE name = p_name;
	RETURN QUERY SELECT u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
END $$;

-- wharf_adjust changes usage by deltas; with p_check a positive file
-- delta past the file quota changes nothing and o_ok is false.
CREATE FUNCTION wharf_adjust(p_name text, p_bytes bigint, p_files bigint, p_check boolean)
RETURNS TABLE (o_ok boolean, o_used_bytes bigint, o_used_files bigint, o_reserved bigint, o_quota_bytes bigint, o_quota_files bigint)
LANGUAGE plpgsql AS $$
DECLARE
	u users%ROWTYPE;
BEGIN
	SELECT * INTO u FROM users WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF p_check AND p_files > 0 AND u.quota_files > 0 AND u.used_files + p_files > u.quota_files THEN
		RETURN QUERY SELECT false, u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
		RETURN;
	END IF;
	u.used_bytes := greatest(0, u.used_bytes + p_bytes);
	u.used_files := greatest(0, u.used_files + p_files);
	IF p_bytes <> 0 OR p_files <> 0 THEN
		UPDATE users SET used_bytes = u.used_bytes, used_files = u.used_files WHERE name = p_name;
	END IF;
	RETURN QUERY SELECT true, u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
END $$;

-- wharf_sweep releases the reservations whose lease ended before p_now,
-- user by user (user row first, as everywhere), and returns how many
-- bytes it gave back.
CREATE FUNCTION wharf_sweep(p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n text;
	freed bigint;
	total bigint := 0;
BEGIN
	FOR n IN SELECT DISTINCT name FROM wharf_reservations WHERE lease_ms < p_now LOOP
		PERFORM 1 FROM users WHERE name = n FOR UPDATE;
		WITH gone AS (
			DELETE FROM wharf_reservations WHERE name = n AND lease_ms < p_now RETURNING bytes
		) SELECT coalesce(sum(bytes), 0) INTO freed FROM gone;
		IF freed > 0 THEN
			UPDATE users SET reserved_bytes = greatest(0, reserved_bytes - freed) WHERE name = n;
		END IF;
		total := total + freed;
	END LOOP;
	RETURN total;
END $$;
