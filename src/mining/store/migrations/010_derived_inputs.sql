-- Issue 13 (rerun): a run records what the derived stages (aggregate, themes, explain) read,
-- so a rerun on unchanged inputs skips them instead of rebuilding the same tables.
ALTER TABLE runs ADD COLUMN derived_inputs VARCHAR;
