-- Artifacts: files produced by an attempt, stored once by content (SHA-256).
-- Logs need no table: each attempt's log is one append-only file in the server's data
-- directory, so streaming output never writes a database row per chunk.

-- One row per distinct content the artifact store holds, written when an upload's bytes
-- have been verified against their hash. An artifact can only refer to a complete blob.
CREATE TABLE blobs (
    sha256          text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size            bigint NOT NULL CHECK (size >= 0),
    created_at      timestamptz NOT NULL
);

-- The outputs of an attempt by relative path. Keyed by attempt so that a retry's files never
-- mix with those of the attempt before it; consumers read the attempt that succeeded.
CREATE TABLE artifacts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_request_id bigint NOT NULL REFERENCES work_requests (id) ON DELETE CASCADE,
    attempt         integer NOT NULL CHECK (attempt >= 1),
    path            text NOT NULL CHECK (length(path) BETWEEN 1 AND 512),
    sha256          text NOT NULL REFERENCES blobs (sha256),
    size            bigint NOT NULL CHECK (size >= 0),
    created_at      timestamptz NOT NULL,
    UNIQUE (work_request_id, attempt, path)
);
-- Expiry of unreferenced blobs looks artifacts up by content.
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
