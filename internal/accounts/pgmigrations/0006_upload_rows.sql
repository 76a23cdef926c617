-- An upload's reservation row lives as long as the upload and names its
-- temporary file (label, relative to the home) and the bytes settled so
-- far (written). When its node dies, the row says how much of what the
-- temporary file holds is already usage, so the node that settles the file
-- counts it by what is stored (wharf_orphan).
ALTER TABLE wharf_reservations ADD COLUMN label text NOT NULL DEFAULT '';
ALTER TABLE wharf_reservations ADD COLUMN written bigint NOT NULL DEFAULT 0;
CREATE INDEX wharf_reservations_label ON wharf_reservations (name, label) WHERE label <> '';

DROP FUNCTION wharf_reserve(text, text, bigint, bigint, bigint, bigint, bigint);

CREATE FUNCTION wharf_reserve(p_name text, p_store text, p_id bigint, p_seq bigint, p_want bigint, p_allow bigint, p_lease bigint, p_label text)
RETURNS TABLE (o_granted bigint, o_used_bytes bigint, o_used_files bigint, o_reserved bigint, o_quota_bytes bigint, o_quota_files bigint)
LANGUAGE plpgsql AS $$
DECLARE
	u users%ROWTYPE;
	w wharf_reservations%ROWTYPE;
	g bigint;
BEGIN
	SELECT * INTO u FROM users WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT * INTO w FROM wharf_reservations WHERE id = p_id FOR UPDATE;
	IF FOUND AND w.seq >= p_seq THEN
		RETURN QUERY SELECT w.granted, u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
		RETURN;
	END IF;
	IF u.quota_bytes <= 0 THEN
		g := p_want;
	ELSE
		g := greatest(0, least(p_want, u.quota_bytes + p_allow - u.used_bytes - u.reserved_bytes));
	END IF;
	IF g > 0 OR p_label <> '' THEN
		UPDATE users SET reserved_bytes = u.reserved_bytes + g WHERE name = p_name;
		INSERT INTO wharf_reservations AS r (id, name, store, bytes, seq, granted, lease_ms, label)
			VALUES (p_id, p_name, p_store, g, p_seq, g, p_lease, p_label)
			ON CONFLICT (id) DO UPDATE SET bytes = r.bytes + g, seq = p_seq, granted = g, lease_ms = p_lease;
		u.reserved_bytes := u.reserved_bytes + g;
	END IF;
	RETURN QUERY SELECT g, u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
END $$;

CREATE OR REPLACE FUNCTION wharf_settle(p_name text, p_id bigint, p_seq bigint, p_held bigint, p_written bigint)
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
		UPDATE wharf_reservations SET bytes = p_held, seq = p_seq, written = r.written + p_written WHERE id = p_id;
	END IF;
	u.reserved_bytes := greatest(0, u.reserved_bytes + d);
	u.used_bytes := greatest(0, u.used_bytes + p_written);
	UPDATE users SET reserved_bytes = u.reserved_bytes, used_bytes = u.used_bytes WHERE name = p_name;
	RETURN QUERY SELECT u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
END $$;

-- The sweep gives back the room of expired rows; an upload's row stays
-- (at zero bytes) for wharf_orphan until its file is settled, for a week
-- at most.
CREATE OR REPLACE FUNCTION wharf_sweep(p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n text;
	freed bigint;
	total bigint := 0;
BEGIN
	FOR n IN SELECT DISTINCT name FROM wharf_reservations WHERE lease_ms < p_now AND (bytes <> 0 OR label = '') LOOP
		PERFORM 1 FROM users WHERE name = n FOR UPDATE;
		SELECT coalesce(sum(bytes), 0) INTO freed FROM wharf_reservations WHERE name = n AND lease_ms < p_now;
		DELETE FROM wharf_reservations WHERE name = n AND lease_ms < p_now AND label = '';
		UPDATE wharf_reservations SET bytes = 0 WHERE name = n AND lease_ms < p_now;
		IF freed > 0 THEN
			UPDATE users SET reserved_bytes = greatest(0, reserved_bytes - freed) WHERE name = n;
		END IF;
		total := total + freed;
	END LOOP;
	DELETE FROM wharf_reservations WHERE label <> '' AND lease_ms < p_now - 7 * 86400000;
	RETURN total;
END $$;

-- wharf_end ends an upload's row (its bytes, if any, are given back).
CREATE FUNCTION wharf_end(p_name text, p_id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	b bigint;
BEGIN
	PERFORM 1 FROM users WHERE name = p_name FOR UPDATE;
	DELETE FROM wharf_reservations WHERE id = p_id RETURNING bytes INTO b;
	IF coalesce(b, 0) <> 0 THEN
		UPDATE users SET reserved_bytes = greatest(0, reserved_bytes - b) WHERE name = p_name;
	END IF;
END $$;

-- wharf_orphan settles the upload labelled p_label of p_name whose file
-- now holds p_stored bytes, if its writer is dead (every row's lease
-- ended): usage gains what was stored but never settled. It returns
-- 'settled', 'live' (a writer still holds it: leave the file alone) or
-- 'unknown' (no row: not a cluster upload, or settled already).
CREATE FUNCTION wharf_orphan(p_name text, p_label text, p_stored bigint, p_now bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	live bigint;
	w bigint;
	b bigint;
BEGIN
	PERFORM 1 FROM users WHERE name = p_name FOR UPDATE;
	SELECT count(*), count(*) FILTER (WHERE lease_ms >= p_now), coalesce(sum(written), 0), coalesce(sum(bytes), 0)
		INTO n, live, w, b FROM wharf_reservations WHERE name = p_name AND label = p_label;
	IF n = 0 THEN
		RETURN 'unknown';
	END IF;
	IF live > 0 THEN
		RETURN 'live';
	END IF;
	DELETE FROM wharf_reservations WHERE name = p_name AND label = p_label;
	UPDATE users SET used_bytes = greatest(0, used_bytes + p_stored - w),
		reserved_bytes = greatest(0, reserved_bytes - b) WHERE name = p_name;
	RETURN 'settled';
END $$;
