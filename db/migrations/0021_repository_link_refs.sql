-- Issue 13, forge intake: what a repository link's reconcile knows of the forge's branch and tag
-- heads. A reconcile compares the heads the forge lists with the events Kiln stored and with the
-- heads it saw at its last run; a head seen in neither was missed (GitHub sends no push events
-- when more than three tags are pushed at once, GitLab drops rate-limited hook calls) and is fed
-- in as a synthesized push or tag event. The first reconcile of a link only records the heads:
-- refs that existed before the link are not events. See docs/webhooks.md, "Reconcile".
CREATE TABLE repository_link_refs (
    link_id     bigint NOT NULL REFERENCES repository_links (id) ON DELETE CASCADE,
    ref         text NOT NULL CHECK (length(ref) BETWEEN 1 AND 255),
    sha         text NOT NULL CHECK (length(sha) BETWEEN 1 AND 64),
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (link_id, ref)
);

-- "Was this head already delivered?": forge events by ref and commit (the reconcile's check, one
-- probe per listed head instead of a walk through the link's events).
CREATE INDEX events_forge_ref_sha ON events ((facts->>'ref'), (facts->>'sha'))
    WHERE source IN ('github', 'gitlab', 'forgejo') AND state <> 'rejected';
