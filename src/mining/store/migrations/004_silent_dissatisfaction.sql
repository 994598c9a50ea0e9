-- Silent dissatisfaction, iceberg, customers at risk, SLA, trends and drivers.
-- Tables are rebuilt after every classification from config/analysis.yaml; views join them.

CREATE TABLE analysis_assumptions (
    name  VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL,
    note  VARCHAR
);

-- Every complaint with its failure types (model + category map), outcome and SLA target.
CREATE TABLE complaint_facts (
    complaint_id     VARCHAR PRIMARY KEY,
    site             VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    customer_id      VARCHAR,
    status           VARCHAR,
    resolved_at      TIMESTAMP,
    category         VARCHAR,
    failure_types    VARCHAR[] NOT NULL,
    outcome          VARCHAR NOT NULL,   -- complained_unresolved | resolved | resolved_quickly
    is_complex       BOOLEAN NOT NULL,
    sla_target_days  DOUBLE NOT NULL
);

-- One row per classified feedback item: voiced or silent, why, and the silent score.
CREATE TABLE feedback_silence (
    item_id         VARCHAR PRIMARY KEY,
    voiced          BOOLEAN NOT NULL,
    voice_source    VARCHAR,            -- complaint | text | NULL
    complaint_id    VARCHAR,            -- the linked complaint, if any
    link_method     VARCHAR,            -- customer_id | window | NULL
    hours_apart     DOUBLE,
    polite_silence  BOOLEAN NOT NULL,
    silent          BOOLEAN NOT NULL,
    silent_signals  VARCHAR[] NOT NULL,
    silent_score    DOUBLE NOT NULL
);

CREATE TABLE failure_type_trends (
    period          VARCHAR NOT NULL,   -- day | week
    period_start    DATE NOT NULL,
    site            VARCHAR NOT NULL,   -- '(all)' for every site together
    failure_type    VARCHAR NOT NULL,
    root_cause      VARCHAR NOT NULL,
    items           BIGINT NOT NULL,    -- all feedback at the site in the period
    type_items      BIGINT NOT NULL,
    negative_items  BIGINT NOT NULL,    -- negative feedback naming this type
    negative_share  DOUBLE NOT NULL,    -- negative_items / items
    ci_low          DOUBLE,             -- 95% Wilson interval of negative_share
    ci_high         DOUBLE,
    previous_share  DOUBLE,             -- the period before (NULL if the site had no feedback)
    change          DOUBLE,
    PRIMARY KEY (period, period_start, site, failure_type)
);

CREATE TABLE root_cause_trends (
    period          VARCHAR NOT NULL,
    period_start    DATE NOT NULL,
    site            VARCHAR NOT NULL,
    root_cause      VARCHAR NOT NULL,
    items           BIGINT NOT NULL,
    type_items      BIGINT NOT NULL,
    negative_items  BIGINT NOT NULL,
    negative_share  DOUBLE NOT NULL,
    ci_low          DOUBLE,
    ci_high         DOUBLE,
    previous_share  DOUBLE,
    change          DOUBLE,
    PRIMARY KEY (period, period_start, site, root_cause)
);

CREATE TABLE iceberg_weekly (
    week                 DATE NOT NULL,
    site                 VARCHAR NOT NULL,
    failure_type         VARCHAR NOT NULL,
    silent_items         BIGINT NOT NULL,
    complaints           BIGINT NOT NULL,
    silent_per_complaint DOUBLE,         -- NULL when there was no complaint
    label                VARCHAR NOT NULL,
    PRIMARY KEY (week, site, failure_type)
);

CREATE TABLE customers_at_risk (
    site                               VARCHAR NOT NULL,
    failure_type                       VARCHAR NOT NULL,
    silent                             BIGINT NOT NULL,
    complained_unresolved              BIGINT NOT NULL,
    resolved                           BIGINT NOT NULL,
    resolved_quickly                   BIGINT NOT NULL,
    dissatisfied                       BIGINT NOT NULL,
    expected_lost                      DOUBLE NOT NULL,
    repurchase_rate_silent             DOUBLE NOT NULL,
    repurchase_rate_complained_unresolved DOUBLE NOT NULL,
    repurchase_rate_resolved           DOUBLE NOT NULL,
    repurchase_rate_resolved_quickly   DOUBLE NOT NULL,
    PRIMARY KEY (site, failure_type)
);

CREATE TABLE drivers (
    site                        VARCHAR NOT NULL,
    failure_type                VARCHAR NOT NULL,
    items                       BIGINT NOT NULL,
    type_items                  BIGINT NOT NULL,
    type_negative_share         DOUBLE,
    negative_share              DOUBLE,
    negative_share_without_type DOUBLE,
    negativity_points           DOUBLE,  -- fall in negative share (points) without the type
    mean_rating                 DOUBLE,
    mean_rating_without_type    DOUBLE,
    rating_points               DOUBLE,
    PRIMARY KEY (site, failure_type)
);

-- Feedback with its prediction, root causes and silence assessment.
CREATE VIEW feedback_enriched AS
SELECT fp.item_id, fp.source, fp.external_id, fp.created_at, fp.site, fp.channel, fp.rating,
       fp.customer_id, fp.language, fp.text, fp.model_version, fp.sentiment, fp.sentiment_score,
       fp.failure_types,
       coalesce((SELECT list(DISTINCT coalesce(r.root_cause, 'unknown') ORDER BY 1)
                 FROM unnest(fp.failure_types) AS u(failure_type)
                 LEFT JOIN failure_type_root_causes r USING (failure_type)),
                CAST([] AS VARCHAR[])) AS root_causes,
       fp.responses, s.voiced, s.voice_source, s.complaint_id, s.link_method, s.polite_silence,
       s.silent, s.silent_signals, s.silent_score
FROM feedback_predictions fp
JOIN feedback_silence s USING (item_id);

-- Dissatisfied feedback that never reached the business, most silent first.
CREATE VIEW silent_items AS
SELECT item_id, created_at, site, customer_id, rating, text, sentiment, sentiment_score,
       failure_types, root_causes, responses, silent_signals, silent_score
FROM feedback_enriched
WHERE silent
ORDER BY silent_score DESC, created_at DESC, item_id;

-- Customers (where ids exist) whose feedback turned negative and who never filed a complaint.
CREATE VIEW silent_customers AS
WITH per_customer AS (
    SELECT customer_id, site,
           count(*) AS feedback_items,
           count(*) FILTER (WHERE sentiment = 'negative') AS negative_items,
           min(created_at) FILTER (WHERE sentiment = 'negative') AS first_negative_at,
           min(created_at) FILTER (WHERE sentiment <> 'negative') AS first_other_at,
           max(created_at) AS last_feedback_at,
           max(silent_score) AS max_silent_score
    FROM feedback_enriched
    WHERE customer_id IS NOT NULL
    GROUP BY ALL
)
SELECT p.*,
       (p.first_other_at IS NOT NULL AND p.first_other_at < p.first_negative_at) AS turned_negative
FROM per_customer p
WHERE p.negative_items > 0
  AND NOT EXISTS (SELECT 1 FROM complaint_facts c WHERE c.customer_id = p.customer_id)
ORDER BY p.negative_items DESC, p.max_silent_score DESC, p.customer_id;

-- Open complaints against their response target, oldest first.
CREATE VIEW complaint_sla AS
SELECT c.complaint_id, c.site, c.created_at, c.status, c.category, c.failure_types, c.is_complex,
       c.sla_target_days,
       date_diff('second', c.created_at, CAST(now() AS TIMESTAMP)) / 86400.0 AS age_days,
       date_diff('second', c.created_at, CAST(now() AS TIMESTAMP)) / 86400.0 > c.sla_target_days
           AS breached
FROM complaint_facts c
WHERE c.outcome = 'complained_unresolved'
ORDER BY c.site, c.created_at;
