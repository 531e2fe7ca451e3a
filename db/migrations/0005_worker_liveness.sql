-- Claims are idempotent: the claim stores the worker's claim id on each row it takes, so a
-- worker that never got the answer repeats the claim with the same id and is handed the same
-- work (the same lease tokens) instead of more. Set by the claim's own update of the row: no
-- extra write, no index (looked up among the worker's running rows, work_requests_worker).
ALTER TABLE work_requests ADD COLUMN claim_id uuid;
