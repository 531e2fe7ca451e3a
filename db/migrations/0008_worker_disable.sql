-- Operators block and retire workers (kiln worker disable / enable / remove).
-- disabled_at: set while an operator has disabled the worker. Its secret is refused, claims
-- hand it nothing, and registering again under its name is refused until it is enabled.
-- removed_at: a soft delete. Attempts reference workers by id (no foreign key, see 0001), and
-- their history shows the worker's name through that id, so the row stays; a removed worker
-- is only left out of lists, counts and matching. Registering the name again revives the row.
-- Both nullable without a default: adding them rewrites nothing, and neither is in an index,
-- so the heartbeat's last_seen_at update stays HOT.
ALTER TABLE workers
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN removed_at timestamptz;
