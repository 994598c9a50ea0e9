-- Root causes from the editable taxonomy, refreshed from config/taxonomy.yaml on every run.
CREATE TABLE failure_type_root_causes (
    failure_type VARCHAR PRIMARY KEY,
    root_cause   VARCHAR NOT NULL,
    description  VARCHAR
);

-- Daily aggregates per site x failure type x sentiment; rebuilt after each classification.
CREATE TABLE daily_trends (
    day            DATE NOT NULL,
    site           VARCHAR NOT NULL,
    failure_type   VARCHAR NOT NULL,
    root_cause     VARCHAR NOT NULL,
    sentiment      VARCHAR NOT NULL,
    items          BIGINT NOT NULL,     -- feedback items of this type and sentiment
    type_items     BIGINT NOT NULL,     -- feedback items of this type, any sentiment
    site_day_items BIGINT NOT NULL,     -- all feedback at the site that day
    PRIMARY KEY (day, site, failure_type, sentiment)
);

-- Negative counts and shares per site, day and failure type (what spikes are judged on).
CREATE VIEW daily_negative AS
SELECT day, site, failure_type, root_cause,
       sum(items) FILTER (WHERE sentiment = 'negative') AS negative_items,
       any_value(type_items) AS type_items,
       any_value(site_day_items) AS site_day_items,
       sum(items) FILTER (WHERE sentiment = 'negative') / any_value(site_day_items) AS negative_share
FROM daily_trends
GROUP BY ALL;
