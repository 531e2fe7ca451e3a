-- allow-failure (a job's failure is shown but neither fails its workflow nor skips its
-- dependents): the flag on the work request, and how many of a workflow's failed jobs were
-- allowed to fail, so its state can follow from its counters as before. Both defaults are
-- constants: adding the columns rewrites no row.
ALTER TABLE work_requests ADD COLUMN allow_failure boolean NOT NULL DEFAULT false;
ALTER TABLE workflows ADD COLUMN allowed_failures integer NOT NULL DEFAULT 0;
