-- Issue 14: status reporting and outgoing webhooks, through one outbox (docs/status-reports.md).
--
-- The outbox holds, per *target* (a forge check run or commit status, a webhook subscription's view
-- of a workflow, a job or an event), the state last *acknowledged* by the other side. The *desired*
-- state is not stored: it is derived, when the sender is about to send, from the rows the engine
-- already keeps current (workflows, work_requests, events). So a claim, a completion or a webhook
-- request writes nothing for the outbox; a state superseded before the sender got to it is never
-- sent (the sender reads only the latest), and an acknowledged state is never sent again. Targets
-- are created in the same transaction as the workflow (or, for events, as the event's processing):
-- a workflow with no reporting link and no subscription has no target and costs no write.

-- How a repository link reports: off, summary (one check run / commit status per workflow), jobs
-- (one per job), groups (one per job, matrix entries grouped). Reporting needs credentials: a token,
-- or (GitHub) an App installation.
ALTER TABLE repository_links
    ADD COLUMN report text NOT NULL DEFAULT 'summary' CHECK (report IN ('off', 'summary', 'jobs', 'groups')),
    ADD COLUMN report_context text NOT NULL DEFAULT 'kiln' CHECK (length(report_context) BETWEEN 1 AND 100),
    -- GitHub: the App installation to write check runs as (the App is the forge_apps row of the link's api_url)
    ADD COLUMN installation_id text CHECK (installation_id IS NULL OR length(installation_id) <= 40);

-- A GitHub App (per API URL): its id and its private key (PEM, sealed), to mint installation tokens.
CREATE TABLE forge_apps (
    api_url         text PRIMARY KEY CHECK (length(api_url) <= 500),
    forge           text NOT NULL CHECK (forge IN ('github')),
    app_id          text NOT NULL CHECK (length(app_id) BETWEEN 1 AND 40),
    key_sealed      bytea NOT NULL,
    key_key_id      text NOT NULL,
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);

-- A project's outgoing webhook: where to POST, the Standard Webhooks signing secret (sealed), and
-- which changes it hears: workflow (state changes, held included), job (work request state changes),
-- event (events of the project's repository links, once processed).
CREATE TABLE webhook_subscriptions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id),
    url             text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    secret_sealed   bytea NOT NULL,
    secret_key_id   text NOT NULL,
    events          text[] NOT NULL CHECK (events <@ ARRAY['workflow', 'job', 'event'] AND cardinality(events) >= 1),
    enabled         boolean NOT NULL DEFAULT true,
    description     text CHECK (description IS NULL OR length(description) <= 200),
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX webhook_subscriptions_project ON webhook_subscriptions (project_id) WHERE enabled;

-- One thing the farm keeps telling another system about.
CREATE TABLE status_targets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the serial sender it goes through: link:ID (a token), app:INSTALLATION@API (a GitHub App
    -- installation), hook:ID (a webhook subscription)
    channel         text NOT NULL CHECK (length(channel) <= 600),
    -- summary, job, group (forge); hook-workflow, hook-job, hook-event (webhooks)
    kind            text NOT NULL CHECK (kind IN ('summary', 'job', 'group', 'hook-workflow', 'hook-job', 'hook-event')),
    workflow_id     bigint REFERENCES workflows (id) ON DELETE CASCADE,
    work_request_id bigint,
    group_name      text,
    event_id        bigint REFERENCES events (id) ON DELETE CASCADE,
    link_id         bigint REFERENCES repository_links (id) ON DELETE CASCADE,
    subscription_id bigint REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    sha             text,
    -- the forge's context / check name (kiln, kiln/build[amd64])
    context         text,
    -- the state the other side acknowledged (a 2xx answer), its time, and the forge's id of the
    -- object (check run id) once created
    acknowledged    text,
    acknowledged_at timestamptz,
    remote_id       text,
    -- tries since the last acknowledgement, every write ever made for it
    attempts        integer NOT NULL DEFAULT 0,
    writes          integer NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    last_code       integer,
    last_answer     text,
    next_attempt_at timestamptz NOT NULL,
    -- a refusal that will never succeed (bad token, repository gone, invalid): shown, not retried
    failed          text,
    -- acknowledged in a final state (or failed): no longer looked at, until a retry reopens it
    done            boolean NOT NULL DEFAULT false,
    -- a delivery asked to be sent again (kiln hooks redeliver)
    redeliver_id    bigint,
    created_at      timestamptz NOT NULL
);
CREATE INDEX status_targets_open ON status_targets (channel, id) WHERE NOT done;
CREATE INDEX status_targets_workflow ON status_targets (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX status_targets_subscription ON status_targets (subscription_id, id) WHERE subscription_id IS NOT NULL;

-- A sender's memory of its forge installation or endpoint: when it last wrote, what the forge said
-- of its rate limit, and a pause (secondary limit, retry-after) that holds every target of it.
CREATE TABLE status_channels (
    channel         text PRIMARY KEY,
    paused_until    timestamptz,
    pause_reason    text,
    last_write_at   timestamptz,
    rate_remaining  integer,
    rate_reset_at   timestamptz,
    updated_at      timestamptz NOT NULL
);

-- Every write attempt and its answer: for forges the audit of what was sent, for webhooks the
-- deliveries list (kiln hooks deliveries) with the exact body, so a redelivery sends the same bytes
-- under the same webhook-id.
CREATE TABLE status_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_id       bigint NOT NULL REFERENCES status_targets (id) ON DELETE CASCADE,
    -- webhooks: the webhook-id (msg_…), the same for a redelivery of it
    message_id      text,
    state           text NOT NULL,
    event_type      text,
    method          text,
    url             text,
    body            bytea,
    status_code     integer,
    answer          text,
    error           text,
    duration_ms     integer NOT NULL DEFAULT 0,
    redelivery_of   bigint,
    attempted_at    timestamptz NOT NULL
);
CREATE INDEX status_deliveries_target ON status_deliveries (target_id, id);
