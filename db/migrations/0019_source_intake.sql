-- Issue 12, source intake and mass rebuilds (docs/packaging.md).

-- The same source package uploaded twice (same format and the same files by name and hash) is
-- the same upload, so it is the same workflow: content_key is the SHA-256 of its sorted
-- "name sha256" lines. A mass rebuild of a published package finds the upload it came from.
ALTER TABLE source_uploads ADD COLUMN content_key text;
CREATE UNIQUE INDEX source_uploads_by_content ON source_uploads (project_id, content_key) WHERE content_key IS NOT NULL;

-- A mass rebuild repeated with the same packages and options is the same rebuild (content_key);
-- its options (architectures, environment, lintian) are kept to submit its items.
ALTER TABLE rebuilds ADD COLUMN content_key text, ADD COLUMN options jsonb NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX rebuilds_by_content ON rebuilds (project_id, content_key) WHERE content_key IS NOT NULL;

-- The upload each item builds (made from the published .dsc and its files); workflow_id stays
-- NULL until the item is submitted, so a rebuild is planned in one statement and submitted in batches.
ALTER TABLE rebuild_items ADD COLUMN upload_id bigint REFERENCES source_uploads (id) ON DELETE SET NULL;
