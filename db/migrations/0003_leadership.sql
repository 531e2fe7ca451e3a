-- Leadership of the exactly-one background duties, as a lease row (replaces the session
-- advisory lock, which a frozen or partitioned leader kept for hours). Every time is the
-- database's now(), so replicas' clocks do not matter. See docs/architecture.md, "Exactly-one
-- duties".
CREATE TABLE leadership (
    -- The duty set led ('duties'); a row per independent set, should there ever be several.
    name            text PRIMARY KEY,
    -- Replica id of the leader (host:pid:random), '' before anyone led.
    holder          text NOT NULL,
    -- Incremented on every takeover: a leader is (holder, fence), so a replica that lost the
    -- lease and took it again later is not mistaken for its earlier self.
    fence           bigint NOT NULL,
    acquired_at     timestamptz NOT NULL,
    renewed_at      timestamptz NOT NULL,
    -- The lease: no other replica takes over before this, and the holder runs no duty after it.
    expires_at      timestamptz NOT NULL,
    -- The holder's clock minus the database's, measured at its last renewal (for status).
    holder_clock_skew_ms integer NOT NULL DEFAULT 0
);

-- The row exists from the start, expired, so taking it is always one UPDATE (an UPDATE whose
-- condition fails writes and locks nothing, unlike INSERT … ON CONFLICT DO UPDATE).
INSERT INTO leadership (name, holder, fence, acquired_at, renewed_at, expires_at)
VALUES ('duties', '', 0, now(), now(), now());
