-- Core tables: feedback, complaints, predictions, quarantine, source state and runs.
-- Text columns hold redacted text only.

CREATE TABLE feedback (
    item_id      VARCHAR PRIMARY KEY,   -- stable key: hash of (source, external_id or content hash)
    source       VARCHAR NOT NULL,
    external_id  VARCHAR,
    content_hash VARCHAR NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    site         VARCHAR NOT NULL,
    channel      VARCHAR,
    rating       DOUBLE,
    customer_id  VARCHAR,
    language     VARCHAR NOT NULL,
    text         VARCHAR NOT NULL,
    location     VARCHAR,               -- file, URL or table the row came from
    line         BIGINT,
    run_id       VARCHAR NOT NULL,
    ingested_at  TIMESTAMP NOT NULL
);

CREATE TABLE complaints (
    item_id      VARCHAR PRIMARY KEY,
    source       VARCHAR NOT NULL,
    external_id  VARCHAR,
    content_hash VARCHAR,               -- NULL when the ticket has no text
    created_at   TIMESTAMP NOT NULL,
    site         VARCHAR NOT NULL,
    channel      VARCHAR,
    customer_id  VARCHAR,
    status       VARCHAR,
    resolved_at  TIMESTAMP,
    category     VARCHAR,
    language     VARCHAR,
    text         VARCHAR,
    location     VARCHAR,
    line         BIGINT,
    run_id       VARCHAR NOT NULL,
    ingested_at  TIMESTAMP NOT NULL
);

-- One row per item and model version. Texts seen before reuse their prediction (no model work).
CREATE TABLE predictions (
    item_id          VARCHAR NOT NULL,
    model_version    VARCHAR NOT NULL,
    item_kind        VARCHAR NOT NULL,  -- feedback | complaint
    content_hash     VARCHAR NOT NULL,
    sentiment        VARCHAR NOT NULL,
    sentiment_score  DOUBLE NOT NULL,
    failure_types    VARCHAR[] NOT NULL,
    failure_scores   VARCHAR NOT NULL,  -- JSON object id -> score
    responses        VARCHAR[] NOT NULL,
    response_scores  VARCHAR NOT NULL,  -- JSON object id -> score
    run_id           VARCHAR NOT NULL,
    predicted_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (item_id, model_version)
);

CREATE TABLE quarantine (
    quarantine_id  VARCHAR PRIMARY KEY, -- hash of (source, location, line, reason)
    source         VARCHAR NOT NULL,
    item_kind      VARCHAR NOT NULL,
    location       VARCHAR,
    line           BIGINT,
    reason         VARCHAR NOT NULL,
    detail         VARCHAR,
    raw            VARCHAR,             -- the raw row as JSON, PII redacted
    run_id         VARCHAR NOT NULL,
    quarantined_at TIMESTAMP NOT NULL
);

-- Incremental reading: a file fingerprint or a cursor per source.
CREATE TABLE source_state (
    source     VARCHAR NOT NULL,
    key        VARCHAR NOT NULL,
    value      VARCHAR,
    run_id     VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, key)
);

CREATE TABLE runs (
    run_id            VARCHAR PRIMARY KEY,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP,
    status            VARCHAR NOT NULL,  -- running | succeeded | failed
    model_version     VARCHAR,
    rows_read         BIGINT DEFAULT 0,
    feedback_added    BIGINT DEFAULT 0,
    complaints_added  BIGINT DEFAULT 0,
    quarantined       BIGINT DEFAULT 0,
    classified        BIGINT DEFAULT 0,
    predictions_reused BIGINT DEFAULT 0,
    duplicates        BIGINT DEFAULT 0,  -- rows already stored (or repeated in one batch)
    stage_seconds     VARCHAR,           -- JSON object stage -> seconds
    error             VARCHAR
);
