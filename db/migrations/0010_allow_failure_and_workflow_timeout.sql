-- allow-failure (a job's failure is shown but neither fails its workflow nor skips its
-- dependents): the flag on the work request, and how many of a workflow's failed jobs were
-- allowed to fail, so its state can follow from its counters as before. Both defaults are
-- constants: adding the columns rewrites no row.
ALTER TABLE work_requests ADD COLUMN allow_failure boolean NOT NULL DEFAULT false;
ALTER TABLE workflows ADD COLUMN allowed_failures integer NOT NULL DEFAULT 0;

-- A workflow's timeout: when its deadline passes the leader cancels its unfinished work once
-- (timed_out_at). The partial index holds only running workflows still to be acted on, so the
-- duty's scan stays small however many workflows have finished.
ALTER TABLE workflows ADD COLUMN deadline_at timestamptz;
ALTER TABLE workflows ADD COLUMN timed_out_at timestamptz;
CREATE INDEX workflows_deadline ON workflows (deadline_at, id) WHERE deadline_at IS NOT NULL AND timed_out_at IS NULL AND state = 'running';
