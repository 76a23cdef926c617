-- A reserve retried after a lost answer (a database restart mid-upload)
-- is applied once: it carries the writer's next number, as settles do,
-- and a repeat is answered with the first grant.
ALTER TABLE wharf_reservations ADD COLUMN granted bigint NOT NULL DEFAULT 0;

DROP FUNCTION wharf_reserve(text, text, bigint, bigint, bigint, bigint);

CREATE FUNCTION wharf_reserve(p_name text, p_store text, p_id bigint, p_seq bigint, p_want bigint, p_allow bigint, p_lease bigint)
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
	IF g > 0 THEN
		UPDATE users SET reserved_bytes = u.reserved_bytes + g WHERE name = p_name;
		INSERT INTO wharf_reservations AS r (id, name, store, bytes, seq, granted, lease_ms)
			VALUES (p_id, p_name, p_store, g, p_seq, g, p_lease)
			ON CONFLICT (id) DO UPDATE SET bytes = r.bytes + g, seq = p_seq, granted = g, lease_ms = p_lease;
		u.reserved_bytes := u.reserved_bytes + g;
	END IF;
	RETURN QUERY SELECT g, u.used_bytes, u.used_files, u.reserved_bytes, u.quota_bytes, u.quota_files;
END $$;
