-- The room of a file being replaced (Quota.Allowance), kept with the
-- replacing upload's row so that it holds across nodes: one upload at a
-- time, on any node, may use a file's room (unique credit_key), and a node
-- that takes the file away (another commit over it, DELE, RNTO) ends the
-- credit in the database, before it counts the file's room as free.
ALTER TABLE wharf_reservations ADD COLUMN allow bigint NOT NULL DEFAULT 0;
ALTER TABLE wharf_reservations ADD COLUMN credit_key text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX wharf_reservations_credit ON wharf_reservations (name, credit_key) WHERE credit_key <> '';

DROP FUNCTION wharf_reserve(text, text, bigint, bigint, bigint, bigint, bigint, text);

CREATE FUNCTION wharf_reserve(p_name text, p_store text, p_id bigint, p_seq bigint, p_want bigint, p_allow bigint, p_lease bigint, p_label text)
RETURNS TABLE (o_granted bigint, o_used_bytes bigint, o_used_files bigint, o_reserved bigint, o_quota_bytes bigint, o_quota_files bigint)
LANGUAGE plpgsql AS $$
DECLARE
	u users%ROWTYPE;
	w wharf_reservations%ROWTYPE;
	g bigint;
	a bigint := p_allow;
BEGIN
	SELECT * INTO u FROM users WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT * INTO w FROM wharf_reservations WHERE id = p_id FOR UPDATE;
	IF FOUND THEN
		IF w.seq >= p_seq THEN
			RETURN QUERY SELECT w.granted, u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
			RETURN;
		END IF;
		a := greatest(a, w.allow);
	END IF;
	IF u.quota_bytes <= 0 THEN
		g := p_want;
	ELSE
		g := greatest(0, least(p_want, u.quota_bytes + a - u.used_bytes - u.reserved_bytes));
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

-- wharf_credit gives writer p_id the room (p_bytes) of the file p_key, or
-- ends its credit (p_bytes 0). It returns false, changing nothing, while
-- another writer holds that file's room.
CREATE FUNCTION wharf_credit(p_name text, p_store text, p_id bigint, p_label text, p_key text, p_bytes bigint, p_lease bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM users WHERE name = p_name FOR UPDATE;
	IF p_bytes <= 0 THEN
		UPDATE wharf_reservations SET allow = 0, credit_key = '' WHERE id = p_id;
		RETURN true;
	END IF;
	IF EXISTS (SELECT 1 FROM wharf_reservations WHERE name = p_name AND credit_key = p_key AND id <> p_id) THEN
		RETURN false;
	END IF;
	INSERT INTO wharf_reservations AS r (id, name, store, bytes, lease_ms, label, allow, credit_key)
		VALUES (p_id, p_name, p_store, 0, p_lease, p_label, p_bytes, p_key)
		ON CONFLICT (id) DO UPDATE SET allow = p_bytes, credit_key = p_key, lease_ms = p_lease;
	RETURN true;
END $$;

-- wharf_revoke ends any credit on the file p_key: it is being taken away.
CREATE FUNCTION wharf_revoke(p_name text, p_key text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM users WHERE name = p_name FOR UPDATE;
	UPDATE wharf_reservations SET allow = 0, credit_key = '' WHERE name = p_name AND credit_key = p_key;
END $$;

-- A dead writer's credit ends with its lease, as its room does.
CREATE OR REPLACE FUNCTION wharf_sweep(p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n text;
	freed bigint;
	total bigint := 0;
BEGIN
	UPDATE wharf_reservations SET allow = 0, credit_key = '' WHERE lease_ms < p_now AND credit_key <> '';
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
