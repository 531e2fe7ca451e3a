-- Identity and access (issue 11): users and their API tokens, project visibility and roles,
-- worker pools and registration tokens, project secrets, and the audit log.
-- Every secret a caller presents is stored only as its SHA-256: a copy of the database (a
-- backup, a dump) gives nobody a working token.

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    display_name    text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    is_admin        boolean NOT NULL DEFAULT false,
    -- A disabled user's tokens authenticate nobody (checked on every request, with the token).
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL
);

CREATE TABLE api_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id),
    -- SHA-256 of the whole token text; the lookup on every request is this index.
    hash            bytea NOT NULL UNIQUE,
    -- The first characters of the token ('kiln_pat_AbCd'), shown in lists so a user can tell
    -- tokens apart and match a leaked one; too short to guess the rest from.
    prefix          text NOT NULL,
    comment         text NOT NULL DEFAULT '',
    scopes          text[] NOT NULL,
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL,
    -- Refreshed at most once per interval per token (a conditional UPDATE: replicas racing
    -- write once), so a busy token costs no write per request.
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);

-- Projects are public (anyone may read them, signed in or not) or private (members only).
ALTER TABLE projects
    ADD COLUMN visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
    ADD COLUMN description text NOT NULL DEFAULT '';

CREATE TABLE project_members (
    project_id      bigint NOT NULL REFERENCES projects (id),
    user_id         bigint NOT NULL REFERENCES users (id),
    role            text NOT NULL CHECK (role IN ('viewer', 'contributor', 'maintainer', 'owner')),
    added_at        timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
-- Authentication reads a user's memberships with the token, in one statement.
CREATE INDEX project_members_user ON project_members (user_id, project_id);

-- Who submitted a workflow (a contributor may cancel and retry its own work). NULL for
-- workflows from before users existed. Nullable without a default: adding it rewrites nothing.
ALTER TABLE workflows ADD COLUMN submitted_by bigint;

-- A pool names what its workers may serve: queues (empty: every queue) and projects (empty:
-- every project, except private ones when exclude_private). The claim reads it with the
-- worker's row.
CREATE TABLE worker_pools (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    description     text NOT NULL DEFAULT '',
    queues          text[] NOT NULL DEFAULT '{}',
    project_ids     bigint[] NOT NULL DEFAULT '{}',
    exclude_private boolean NOT NULL DEFAULT false,
    -- New workers of this pool wait for an admin's 'kiln worker approve NAME'.
    approval_required boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL
);
INSERT INTO worker_pools (name, description, created_at)
VALUES ('default', 'every queue and every project', now());

CREATE TABLE registration_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash            bytea NOT NULL UNIQUE,
    prefix          text NOT NULL,
    pool_id         bigint NOT NULL REFERENCES worker_pools (id),
    comment         text NOT NULL DEFAULT '',
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL,
    created_by      bigint REFERENCES users (id),
    revoked_at      timestamptz
);

ALTER TABLE workers
    ADD COLUMN pool_id bigint,
    -- NULL while the worker waits for approval (its pool requires it): it is handed nothing.
    ADD COLUMN approved_at timestamptz;
UPDATE workers SET pool_id = (SELECT id FROM worker_pools WHERE name = 'default'), approved_at = registered_at;

-- Pools a project trusts with its secrets: a job that names secrets is only handed to
-- workers of these pools.
CREATE TABLE project_trusted_pools (
    project_id      bigint NOT NULL REFERENCES projects (id),
    pool_id         bigint NOT NULL REFERENCES worker_pools (id),
    PRIMARY KEY (project_id, pool_id)
);

-- Project secrets, sealed with AES-256-GCM under a key kept outside the database (the key
-- file); key_id names the key so a server with the wrong key says so.
CREATE TABLE project_secrets (
    project_id      bigint NOT NULL REFERENCES projects (id),
    name            text NOT NULL CHECK (name ~ '^[A-Z_][A-Z0-9_]{0,99}$'),
    sealed          bytea NOT NULL,
    key_id          text NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      bigint REFERENCES users (id),
    PRIMARY KEY (project_id, name)
);

-- The secrets a job names (workflow file: secrets: [NAME]); fixed at submission. A fast default:
-- adding it rewrites nothing.
ALTER TABLE work_requests ADD COLUMN secrets text[] NOT NULL DEFAULT '{}';

-- Every security-relevant change: who (a user, a worker, the system), from where, what.
-- Append-only; read newest first by id.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor_kind      text NOT NULL CHECK (actor_kind IN ('user', 'worker', 'system', 'anonymous')),
    actor_id        bigint,
    actor_name      text NOT NULL,
    address         text,
    action          text NOT NULL,
    target          text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'
);
