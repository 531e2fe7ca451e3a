-- Issue 12: clean build environments, built-in job kinds, structured results, source uploads,
-- repositories and mass rebuilds. See docs/packaging.md.

-- How a work request runs beyond its script: the built-in kind it uses (`uses:` and `with:`),
-- the environment it runs in (resolved at submission to one content-addressed version), its
-- network and its resource limits. NULL for a plain job on the host executor.
ALTER TABLE work_requests ADD COLUMN execution jsonb;

-- A named root filesystem ("debian/bookworm-amd64") and how Kiln makes it.
CREATE TABLE environments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9.+_-]*/[a-z0-9][a-z0-9.+_-]*$' AND length(name) <= 100),
    -- debian: mmdebstrap from mirror; imported: tarballs uploaded by an admin (kiln env import)
    builder         text NOT NULL CHECK (builder IN ('mmdebstrap', 'imported')),
    suite           text,
    architecture    text,
    mirror          text,
    variant         text,
    packages        text[] NOT NULL DEFAULT '{}',
    -- rebuilt this often by the leader's environment duty; NULL: only on demand (kiln env refresh)
    refresh_seconds integer CHECK (refresh_seconds IS NULL OR refresh_seconds >= 3600),
    created_at      timestamptz NOT NULL,
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    -- the workflow of the build in progress, if any (one at a time per environment)
    building_workflow_id bigint REFERENCES workflows (id) ON DELETE SET NULL,
    last_build_requested_at timestamptz
);

-- One built (or imported) root filesystem: a tarball in the blob store, named by its hash.
CREATE TABLE environment_versions (
    environment_id  bigint NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    version         integer NOT NULL CHECK (version >= 1),
    sha256          text NOT NULL REFERENCES blobs (sha256),
    size            bigint NOT NULL CHECK (size >= 0),
    -- the work request whose output it is; NULL when imported
    work_request_id bigint REFERENCES work_requests (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (environment_id, version),
    UNIQUE (environment_id, sha256)
);
CREATE UNIQUE INDEX environment_versions_from_work ON environment_versions (work_request_id) WHERE work_request_id IS NOT NULL;

-- Structured results of an attempt, as its kind reports them (package, version, files, lintian
-- tags, tests, regressions). One per attempt; what kiln show and the API show.
CREATE TABLE work_request_results (
    work_request_id bigint NOT NULL REFERENCES work_requests (id) ON DELETE CASCADE,
    attempt         integer NOT NULL CHECK (attempt >= 1),
    kind            text NOT NULL,
    result          jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (work_request_id, attempt)
);

-- A source package uploaded for building (kiln build X.dsc / X.src.rpm): its files are blobs.
CREATE TABLE source_uploads (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    format          text NOT NULL CHECK (format IN ('dsc', 'srpm')),
    package         text NOT NULL,
    version         text NOT NULL,
    uploaded_by     bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);
CREATE TABLE source_upload_files (
    upload_id       bigint NOT NULL REFERENCES source_uploads (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    sha256          text NOT NULL REFERENCES blobs (sha256),
    size            bigint NOT NULL CHECK (size >= 0),
    PRIMARY KEY (upload_id, name)
);

-- A published repository: per project, suite and format. Its files live under
-- DATA_DIR/repos/<project>/<suite>/ as numbered snapshots; `current` names the one served.
CREATE TABLE repositories (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    suite           text NOT NULL CHECK (suite ~ '^[a-z0-9][a-z0-9.+_-]*$' AND length(suite) <= 64),
    format          text NOT NULL CHECK (format IN ('apt', 'rpm')),
    snapshot        integer NOT NULL DEFAULT 0,
    published_at    timestamptz,
    created_at      timestamptz NOT NULL,
    UNIQUE (project_id, suite)
);

-- What a repository holds, one row per file in its pool (binary or source package). Publishing
-- adds rows and rewrites the indices from them: incremental, and the database is the truth.
CREATE TABLE repository_packages (
    repository_id   bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    package         text NOT NULL,
    version         text NOT NULL,
    architecture    text NOT NULL,
    -- the pool path, e.g. pool/main/h/hello/hello_2.10-3_amd64.deb
    filename        text NOT NULL,
    sha256          text NOT NULL REFERENCES blobs (sha256),
    size            bigint NOT NULL CHECK (size >= 0),
    -- APT: the package's control stanza (without Filename/Size/hashes); RPM: NULL
    control         text,
    source_package  text,
    work_request_id bigint REFERENCES work_requests (id) ON DELETE SET NULL,
    published_at    timestamptz NOT NULL,
    PRIMARY KEY (repository_id, filename)
);
CREATE INDEX repository_packages_by_name ON repository_packages (repository_id, package, architecture);

-- A mass rebuild: one workflow per source package, idempotent per (package, version, environment).
CREATE TABLE rebuilds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    suite           text NOT NULL,
    requested_by    bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);
CREATE TABLE rebuild_items (
    rebuild_id      bigint NOT NULL REFERENCES rebuilds (id) ON DELETE CASCADE,
    package         text NOT NULL,
    version         text NOT NULL,
    workflow_id     bigint REFERENCES workflows (id) ON DELETE SET NULL,
    PRIMARY KEY (rebuild_id, package)
);
