-- Issue 12, repositories: APT's Packages and Sources indices carry each file's MD5 beside its SHA-256
-- (older tools read only MD5sum). Kept per pool file so an index is written from the database alone,
-- never by re-reading the pool.
ALTER TABLE repository_packages ADD COLUMN md5 text CHECK (md5 IS NULL OR md5 ~ '^[0-9a-f]{32}$');
