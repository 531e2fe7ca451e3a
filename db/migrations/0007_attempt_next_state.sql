-- The state an attempt's end led to, as recorded: a repeated report gets this answer back
-- (the docs promise the recorded answer, not whatever the work request is now). NULL for
-- attempts recorded before this column existed; they answer the current state.
ALTER TABLE attempts ADD COLUMN next_state text
    CHECK (next_state IS NULL OR next_state IN ('blocked', 'pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'));
