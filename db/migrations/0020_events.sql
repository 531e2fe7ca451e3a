-- Issue 13: events and triggers. Forge webhooks and repository (Koji) tag messages are verified,
-- stored under a unique delivery key and acknowledged; a leader duty then matches them against
-- each project's trigger rules and creates workflows — one per (project, rule, input key), by a
-- unique index, so a redelivery or a re-tag of an input already built creates nothing. Bursts
-- beyond a rule's (or a source's) limit are created held; pause keeps events. See docs/events.md.

-- A forge repository linked to a project: the secret its webhooks are signed with (sealed by the
-- farm's secrets key, like project secrets), and optionally the forge API and a token, used to
-- reconcile missed events (and, issue 14, to report statuses).
CREATE TABLE repository_links (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id),
    forge           text NOT NULL CHECK (forge IN ('github', 'gitlab', 'forgejo')),
    -- owner/name (GitLab: the project's full path, group/subgroup/name), as the forge spells it
    repository      text NOT NULL CHECK (length(repository) BETWEEN 1 AND 255),
    secret_sealed   bytea NOT NULL,
    secret_key_id   text NOT NULL,
    api_url         text CHECK (api_url IS NULL OR length(api_url) <= 500),
    token_sealed    bytea,
    token_key_id    text,
    -- GitHub: the webhook's id, to list and redeliver its failed deliveries
    hook_id         text,
    -- reconcile on this period (seconds) by the leader; NULL: only on demand
    reconcile_seconds integer CHECK (reconcile_seconds IS NULL OR reconcile_seconds >= 60),
    last_reconciled_at timestamptz,
    paused          boolean NOT NULL DEFAULT false,
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    last_event_at   timestamptz,
    UNIQUE (forge, repository, project_id)
);
CREATE INDEX repository_links_repository ON repository_links (forge, lower(repository));

-- Per source (github, gitlab, forgejo, koji, schedule, manual): paused or not, and the burst
-- limit of the source as a whole. A source without a row is running, with the server's default limit.
CREATE TABLE event_sources (
    source          text PRIMARY KEY,
    paused          boolean NOT NULL DEFAULT false,
    burst_limit     integer CHECK (burst_limit IS NULL OR burst_limit >= 1),
    burst_window_seconds integer CHECK (burst_window_seconds IS NULL OR burst_window_seconds >= 1),
    updated_at      timestamptz NOT NULL
);

-- Every event that reached Kiln, as received: the exact body bytes, the headers that matter,
-- what was read from it (facts), and what processing made of it (effects, in order).
CREATE TABLE events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text NOT NULL CHECK (source IN ('github', 'gitlab', 'forgejo', 'koji', 'schedule', 'manual')),
    -- The forge's (or bus's) id of this delivery. NULL for a rejected event: a forged delivery
    -- must never occupy the key a real one will come with.
    delivery_key    text CHECK (delivery_key IS NULL OR length(delivery_key) <= 200),
    -- the links (and so projects) whose secret verified it; empty for koji, schedule, manual
    link_ids        bigint[] NOT NULL DEFAULT '{}',
    -- push, tag, pull_request, release, ping, buildsys.tag, buildsys.untag, schedule, manual, …
    event_type      text NOT NULL CHECK (length(event_type) <= 100),
    action          text CHECK (action IS NULL OR length(action) <= 100),
    -- received: waiting to be processed (or paused); processed: rules were applied; ignored: a
    -- type Kiln does not act on; rejected: failed verification or was malformed (a security event)
    state           text NOT NULL CHECK (state IN ('received', 'processed', 'ignored', 'rejected')),
    facts           jsonb NOT NULL DEFAULT '{}',
    headers         jsonb NOT NULL DEFAULT '{}',
    body            bytea,
    body_size       integer NOT NULL DEFAULT 0,
    effects         jsonb NOT NULL DEFAULT '[]',
    remote_address  text,
    received_at     timestamptz NOT NULL,
    processed_at    timestamptz,
    UNIQUE (source, delivery_key)
);
-- The backlog, in arrival order: only unprocessed rows are in it.
CREATE INDEX events_backlog ON events (id) WHERE state = 'received';
CREATE INDEX events_source_id ON events (source, id);
CREATE INDEX events_links ON events USING gin (link_ids);

-- A project's trigger rules as set (kiln trigger set PROJECT rules.yaml): every version kept.
CREATE TABLE trigger_sets (
    project_id      bigint NOT NULL REFERENCES projects (id),
    version         integer NOT NULL,
    document        text NOT NULL,
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (project_id, version)
);

-- One rule, by name: its identity outlives versions of the set (so a rule's input keys stay
-- its own when the file is edited); inactive once a later version no longer has it.
CREATE TABLE trigger_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    version         integer NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    definition      jsonb NOT NULL,
    -- the workflow file the rule submits, as given with the set, and its SHA-256 (part of the input key)
    workflow_document text NOT NULL,
    workflow_sha256 text NOT NULL,
    paused          boolean NOT NULL DEFAULT false,
    -- schedule rules: the last slot submitted
    last_scheduled_at timestamptz,
    UNIQUE (project_id, name)
);

-- Events that matched a paused rule, kept for that rule until it resumes (then processed in
-- arrival order, once).
CREATE TABLE event_deferrals (
    rule_id         bigint NOT NULL REFERENCES trigger_rules (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, event_id)
);

-- Where a workflow came from and what holds it.
ALTER TABLE workflows
    ADD COLUMN event_id bigint REFERENCES events (id) ON DELETE SET NULL,
    ADD COLUMN rule_id bigint REFERENCES trigger_rules (id) ON DELETE SET NULL,
    ADD COLUMN input_key text,
    -- held: by the storm guard until approved; queued: waiting for its concurrency group.
    -- While set, the workflow's state is the same word and its root work requests carry one
    -- extra unmet dependency (the gate), so nothing of it can be claimed.
    ADD COLUMN hold_state text CHECK (hold_state IS NULL OR hold_state IN ('held', 'queued')),
    ADD COLUMN concurrency_group text CHECK (concurrency_group IS NULL OR length(concurrency_group) <= 200),
    ADD COLUMN cancel_in_progress boolean NOT NULL DEFAULT false,
    ADD COLUMN superseded_by bigint;

ALTER TABLE workflows DROP CONSTRAINT workflows_state_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_state_check
    CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled', 'held', 'queued', 'superseded'));

-- The input-change check: one workflow per (project, rule, input key).
CREATE UNIQUE INDEX workflows_rule_input ON workflows (project_id, rule_id, input_key) WHERE rule_id IS NOT NULL;
-- The storm guard counts a rule's recent workflows.
CREATE INDEX workflows_rule_created ON workflows (rule_id, created_at) WHERE rule_id IS NOT NULL;
CREATE INDEX workflows_event ON workflows (event_id) WHERE event_id IS NOT NULL;
-- The concurrency duty reads the live members of each group.
CREATE INDEX workflows_concurrency ON workflows (project_id, concurrency_group, id)
    WHERE concurrency_group IS NOT NULL AND state IN ('running', 'queued');
