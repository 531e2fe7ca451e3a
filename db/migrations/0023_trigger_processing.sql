-- Issue 13, trigger processing (docs/events.md): the names of the rules each version of a
-- project's rules file had, so `kiln trigger history` lists them without re-reading the file.
ALTER TABLE trigger_sets ADD COLUMN rule_names text[] NOT NULL DEFAULT '{}';
