-- The audit log's documented filters (GET /api/v1/audit?action=&actor=&target=), newest first:
-- each filter walks its own index backwards from the cursor and reads only matching entries,
-- however long the log grows (enrolments and token use by scripts make it long).
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor_name, id);
CREATE INDEX audit_log_target ON audit_log (target, id);
