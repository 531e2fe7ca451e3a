-- Worker pools take over registration (issue 11): a worker registers with a registration token
-- of its pool (registration_tokens, stored as SHA-256 only). The farm-wide plaintext token in
-- the settings table goes: a copy of the database must not give anyone a way to enrol workers.
-- An operator who still wants one farm-wide token configures it (--worker-token /
-- KILN_WORKER_TOKEN); it enrols into the default pool.
DELETE FROM settings WHERE key = 'worker_registration_token';

-- The server asks at every start whether the default pool still has a live token, and an
-- admin lists a pool's tokens: both read the pool's tokens (a handful) by this index.
CREATE INDEX registration_tokens_pool ON registration_tokens (pool_id, id);

-- The claim reads the pools a project trusts with its secrets by pool (the primary key
-- leads with the project).
CREATE INDEX project_trusted_pools_pool ON project_trusted_pools (pool_id, project_id);
