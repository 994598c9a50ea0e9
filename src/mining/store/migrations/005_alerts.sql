-- Spike episodes, the alert outbox and every delivery attempt.

-- Rebuilt from the whole history on every run (same data, same episodes).
CREATE TABLE alert_episodes (
    episode_id     VARCHAR PRIMARY KEY,
    site           VARCHAR NOT NULL,
    failure_type   VARCHAR NOT NULL,   -- '(any)' for the site's negative feedback of any type
    opened_at      TIMESTAMP NOT NULL, -- first spike bucket
    last_spike_at  TIMESTAMP NOT NULL,
    closed_at      TIMESTAMP,          -- the bucket that ended it (calm long enough)
    status         VARCHAR NOT NULL,   -- open | closed
    spike_buckets  BIGINT NOT NULL,
    peak_negative  BIGINT NOT NULL,
    alerts         BIGINT NOT NULL
);

-- The outbox: one row per alert, written once (the id is derived from the episode).
CREATE TABLE alerts (
    alert_id        VARCHAR PRIMARY KEY,
    episode_id      VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,  -- opened | grew
    site            VARCHAR NOT NULL,
    failure_type    VARCHAR NOT NULL,
    root_cause      VARCHAR NOT NULL,
    window_start    TIMESTAMP NOT NULL,
    window_end      TIMESTAMP NOT NULL,
    negative        BIGINT NOT NULL,
    total           BIGINT NOT NULL,
    expected        DOUBLE NOT NULL,
    baseline_share  DOUBLE NOT NULL,
    p_value         DOUBLE NOT NULL,
    silent_share    DOUBLE,
    examples        VARCHAR[] NOT NULL, -- redacted
    report          VARCHAR NOT NULL,
    manager         VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    acked_at        TIMESTAMP,
    acked_by        VARCHAR
);

-- One row per alert, channel and purpose; retried with backoff across runs until sent.
CREATE TABLE alert_deliveries (
    alert_id         VARCHAR NOT NULL,
    channel          VARCHAR NOT NULL,
    purpose          VARCHAR NOT NULL,  -- alert | escalation
    idempotency_key  VARCHAR NOT NULL,  -- sent with the message; receivers drop repeats
    status           VARCHAR NOT NULL,  -- pending | sent | failed (gave up after max attempts)
    attempts         BIGINT NOT NULL,
    next_attempt_at  TIMESTAMP NOT NULL,
    last_attempt_at  TIMESTAMP,
    sent_at          TIMESTAMP,
    last_error       VARCHAR,
    created_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (alert_id, channel, purpose)
);

ALTER TABLE runs ADD COLUMN alerts_new BIGINT DEFAULT 0;
ALTER TABLE runs ADD COLUMN alerts_sent BIGINT DEFAULT 0;
ALTER TABLE runs ADD COLUMN alert_deliveries_pending BIGINT DEFAULT 0;
