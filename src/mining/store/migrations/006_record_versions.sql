-- Record versions and identity (issue 14).
-- 1. A newer version of a stored record updates the fields its source declares updatable
--    (status, resolved_at, category for complaints; text, rating for feedback); every version
--    is kept in feedback_history / complaints_history.
-- 2. A record without an external id is keyed by source, site, created_at and content hash,
--    never by its text alone. Existing rows are rekeyed here, with every table that holds
--    their ids, so a store keeps working and a rerun of the same files adds no duplicates.

ALTER TABLE feedback ADD COLUMN source_updated_at TIMESTAMP;  -- the source's version time
ALTER TABLE feedback ADD COLUMN version BIGINT DEFAULT 1;     -- 1 + updates applied
ALTER TABLE feedback ADD COLUMN changed_at TIMESTAMP;         -- when the last update was stored
ALTER TABLE complaints ADD COLUMN source_updated_at TIMESTAMP;
ALTER TABLE complaints ADD COLUMN version BIGINT DEFAULT 1;
ALTER TABLE complaints ADD COLUMN changed_at TIMESTAMP;

-- One row per stored version; the current one has valid_to NULL.
CREATE TABLE feedback_history (
    item_id           VARCHAR NOT NULL,
    version           BIGINT NOT NULL,
    valid_from        TIMESTAMP NOT NULL,  -- when the store received this version
    valid_to          TIMESTAMP,           -- when a newer version replaced it (NULL: current)
    source_updated_at TIMESTAMP,
    changed_fields    VARCHAR[] NOT NULL,  -- fields that differ from the version before
    rating            DOUBLE,
    content_hash      VARCHAR NOT NULL,
    language          VARCHAR NOT NULL,
    text              VARCHAR NOT NULL,    -- redacted, like feedback.text
    location          VARCHAR,
    line              BIGINT,
    run_id            VARCHAR NOT NULL,
    PRIMARY KEY (item_id, version)
);

CREATE TABLE complaints_history (
    item_id           VARCHAR NOT NULL,
    version           BIGINT NOT NULL,
    valid_from        TIMESTAMP NOT NULL,
    valid_to          TIMESTAMP,
    source_updated_at TIMESTAMP,
    changed_fields    VARCHAR[] NOT NULL,
    status            VARCHAR,
    resolved_at       TIMESTAMP,
    category          VARCHAR,
    content_hash      VARCHAR,
    language          VARCHAR,
    text              VARCHAR,
    location          VARCHAR,
    line              BIGINT,
    run_id            VARCHAR NOT NULL,
    PRIMARY KEY (item_id, version)
);

-- Old key of a row without an external id: (source, kind, content hash). New key: the same
-- sha256 as mining.records.make_item_id over (source, kind, site, created_at, content hash).
CREATE TEMP TABLE _rekey AS
SELECT item_id AS old_id,
       substr(sha256(source || chr(31) || 'feedback' || chr(31) || 'row:' || site || chr(31)
                     || strftime(created_at, '%Y-%m-%d %H:%M:%S.%f') || chr(31)
                     || coalesce(content_hash, '')), 1, 32) AS new_id
FROM feedback
WHERE external_id IS NULL OR external_id = ''
UNION ALL
SELECT item_id,
       substr(sha256(source || chr(31) || 'complaint' || chr(31) || 'row:' || site || chr(31)
                     || strftime(created_at, '%Y-%m-%d %H:%M:%S.%f') || chr(31)
                     || coalesce(content_hash, '')), 1, 32)
FROM complaints
WHERE external_id IS NULL OR external_id = '';

UPDATE feedback SET item_id = r.new_id FROM _rekey r WHERE feedback.item_id = r.old_id;
UPDATE complaints SET item_id = r.new_id FROM _rekey r WHERE complaints.item_id = r.old_id;
UPDATE predictions SET item_id = r.new_id FROM _rekey r WHERE predictions.item_id = r.old_id;
-- Derived tables are rebuilt by the next run; rekeyed too, so the store reads right meanwhile.
UPDATE feedback_silence SET item_id = r.new_id FROM _rekey r
WHERE feedback_silence.item_id = r.old_id;
UPDATE feedback_silence SET complaint_id = r.new_id FROM _rekey r
WHERE feedback_silence.complaint_id = r.old_id;
UPDATE complaint_facts SET complaint_id = r.new_id FROM _rekey r
WHERE complaint_facts.complaint_id = r.old_id;
DROP TABLE _rekey;

-- What is stored now is each record's first version.
INSERT INTO feedback_history
SELECT item_id, 1, ingested_at, NULL, NULL, CAST([] AS VARCHAR[]), rating, content_hash,
       language, text, location, line, run_id
FROM feedback;
INSERT INTO complaints_history
SELECT item_id, 1, ingested_at, NULL, NULL, CAST([] AS VARCHAR[]), status, resolved_at, category,
       content_hash, language, text, location, line, run_id
FROM complaints;

-- A prediction belongs to a text: an edited text shows no stale prediction, and is pending
-- again until the model has read the new text.
CREATE OR REPLACE VIEW feedback_predictions AS
SELECT f.*, p.model_version, p.sentiment, p.sentiment_score, p.failure_types, p.failure_scores,
       p.responses, p.response_scores
FROM feedback f
JOIN predictions p ON p.item_id = f.item_id AND p.content_hash = f.content_hash
QUALIFY row_number() OVER (PARTITION BY f.item_id ORDER BY p.predicted_at DESC, p.model_version DESC) = 1;

ALTER TABLE runs ADD COLUMN feedback_updated BIGINT DEFAULT 0;
ALTER TABLE runs ADD COLUMN complaints_updated BIGINT DEFAULT 0;
