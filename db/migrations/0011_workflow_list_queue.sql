-- GET /work-requests?workflow=&queue= reads the workflow's (state, id) ranges of
-- work_requests_workflow_state and checks the queue of each entry (QueryStore). A workflow
-- holds up to 50,000 requests, and a rare or absent queue in one made every list visit all
-- of its heap rows (43 ms for one 17,500-row state range). With the queue in the index's
-- entries the check needs no heap visit: one pass over the workflow's index entries.
--
-- Write cost: none added — the same index, its entries a few bytes longer; queue is never
-- updated, so no update that was HOT stops being HOT.
DROP INDEX work_requests_workflow_state;
CREATE INDEX work_requests_workflow_state ON work_requests (workflow_id, state, id) INCLUDE (queue);
