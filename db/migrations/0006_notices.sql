-- Operator notices (the Debusine post-mortem: users were not told about operational problems).
-- An operator posts one; every API response carries the most severe active one in a header and
-- every CLI command prints it, so users hear about an incident where they already look.
CREATE TABLE notices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    -- Validated at the API edge (bounded, no control characters); the check is a backstop.
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
    starts_at   timestamptz NOT NULL,
    -- NULL: until cleared. A notice past its end is simply no longer shown (no sweeper needed).
    ends_at     timestamptz,
    created_at  timestamptz NOT NULL,
    CHECK (ends_at IS NULL OR ends_at > starts_at)
);
-- The active list reads the few notices not yet cleared; cleared ones are deleted, so the
-- table stays tiny and a sequential scan is the right plan — no further index.
