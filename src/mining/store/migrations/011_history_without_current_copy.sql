-- The current version of a record is its row in feedback / complaints and is not written a
-- second time (issue 13: every new text was stored twice, and the second copy was a third of
-- the ingest's commit). The tables keep only the versions a newer one replaced; the views
-- feedback_history / complaints_history show every version, the current one included, with
-- the same columns as before, so analysts' queries read them unchanged.

-- What the history's current row held that the item row did not: what its last update
-- changed, and the run that stored that update (run_id stays the run that first stored it).
ALTER TABLE feedback ADD COLUMN changed_fields VARCHAR[];
ALTER TABLE feedback ADD COLUMN changed_run_id VARCHAR;
ALTER TABLE complaints ADD COLUMN changed_fields VARCHAR[];
ALTER TABLE complaints ADD COLUMN changed_run_id VARCHAR;

UPDATE feedback SET changed_fields = h.changed_fields, changed_run_id = h.run_id
FROM feedback_history h
WHERE h.item_id = feedback.item_id AND h.valid_to IS NULL AND h.version > 1;
UPDATE complaints SET changed_fields = h.changed_fields, changed_run_id = h.run_id
FROM complaints_history h
WHERE h.item_id = complaints.item_id AND h.valid_to IS NULL AND h.version > 1;

-- The history tables keep the replaced versions only (valid_to is never NULL there), under
-- names that say so; their columns and keys stay as migration 006 made them.
DELETE FROM feedback_history WHERE valid_to IS NULL;
DELETE FROM complaints_history WHERE valid_to IS NULL;
ALTER TABLE feedback_history RENAME TO feedback_replaced_versions;
ALTER TABLE complaints_history RENAME TO complaints_replaced_versions;
ALTER TABLE feedback_replaced_versions ALTER COLUMN valid_to SET NOT NULL;
ALTER TABLE complaints_replaced_versions ALTER COLUMN valid_to SET NOT NULL;

CREATE VIEW feedback_history AS
SELECT item_id, version, valid_from, valid_to, source_updated_at, changed_fields, rating,
       content_hash, language, text, location, line, run_id
FROM feedback_replaced_versions
UNION ALL
SELECT item_id, version, coalesce(changed_at, ingested_at), CAST(NULL AS TIMESTAMP),
       source_updated_at, coalesce(changed_fields, CAST([] AS VARCHAR[])), rating,
       content_hash, language, text, location, line, coalesce(changed_run_id, run_id)
FROM feedback;

CREATE VIEW complaints_history AS
SELECT item_id, version, valid_from, valid_to, source_updated_at, changed_fields, status,
       resolved_at, category, content_hash, language, text, location, line, run_id
FROM complaints_replaced_versions
UNION ALL
SELECT item_id, version, coalesce(changed_at, ingested_at), CAST(NULL AS TIMESTAMP),
       source_updated_at, coalesce(changed_fields, CAST([] AS VARCHAR[])), status,
       resolved_at, category, content_hash, language, text, location, line,
       coalesce(changed_run_id, run_id)
FROM complaints;
