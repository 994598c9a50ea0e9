-- Emerging problems: clusters of recent negative feedback that no failure type covers
-- (src/mining/analysis/themes.py). One row per run in theme_runs, even a run that found none.

CREATE TABLE theme_runs (
    run_id          VARCHAR PRIMARY KEY,
    computed_at     TIMESTAMP NOT NULL,
    model_version   VARCHAR NOT NULL,
    encoder_digest  VARCHAR NOT NULL,   -- centroids compare only within one encoder's space
    window_start    TIMESTAMP NOT NULL, -- exclusive
    window_end      TIMESTAMP NOT NULL, -- the newest stored feedback item
    uncovered_items BIGINT NOT NULL,    -- negative items of the window no type covers
    themes          BIGINT NOT NULL
);

CREATE TABLE themes (
    run_id        VARCHAR NOT NULL,
    theme_id      VARCHAR NOT NULL,     -- kept across runs while the cluster persists
    size          BIGINT NOT NULL,
    previous_size BIGINT NOT NULL,      -- previous window's uncovered items inside the theme
    growth        DOUBLE,               -- size / previous_size - 1; NULL when previous_size = 0
    keywords      VARCHAR[] NOT NULL,   -- class-based TF-IDF, best first
    sites         VARCHAR[] NOT NULL,   -- most items first
    site_counts   VARCHAR NOT NULL,     -- JSON object site -> items
    examples      VARCHAR[] NOT NULL,   -- redacted texts nearest the centroid
    centroid      FLOAT[] NOT NULL,     -- unit vector of pooled features
    radius        DOUBLE NOT NULL,      -- cosine distance of the farthest member
    first_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, theme_id)
);

CREATE TABLE theme_items (
    run_id   VARCHAR NOT NULL,
    theme_id VARCHAR NOT NULL,
    item_id  VARCHAR NOT NULL,          -- feedback.item_id
    distance DOUBLE NOT NULL,           -- cosine distance to the theme's centroid
    PRIMARY KEY (run_id, item_id)
);

-- The themes of the newest run that looked for them.
CREATE VIEW emerging_themes AS
SELECT t.theme_id, t.size, t.previous_size, t.growth, t.keywords, t.sites, t.site_counts,
       t.examples, t.first_seen_at, r.window_start, r.window_end, r.computed_at, r.run_id,
       r.model_version
FROM themes t
JOIN theme_runs r USING (run_id)
WHERE r.run_id = (SELECT run_id FROM theme_runs ORDER BY computed_at DESC, run_id DESC LIMIT 1);
