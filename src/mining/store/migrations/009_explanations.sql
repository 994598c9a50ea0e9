-- Why this label (issue 15): the words that drove an item's top failure type, by occlusion on
-- the model. Only items the report and the alerts show are explained, once per text and model.

CREATE TABLE explanations (
    item_id        VARCHAR NOT NULL,
    content_hash   VARCHAR NOT NULL,  -- the text explained (a changed text is explained anew)
    model_version  VARCHAR NOT NULL,
    failure_type   VARCHAR NOT NULL,  -- the item's top predicted type
    score          DOUBLE NOT NULL,   -- its stored score
    spans          VARCHAR NOT NULL,  -- JSON [{start, end, text, drop}], best first; [] if none
    word_weights   VARCHAR NOT NULL,  -- JSON [[start, end, drop]] per word occluded alone
    variants       BIGINT NOT NULL,   -- occluded texts the model read
    run_id         VARCHAR NOT NULL,
    explained_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (item_id, content_hash, model_version, failure_type)
);

-- Each item's explanation for its current text and prediction (top stored score first).
CREATE VIEW current_explanations AS
SELECT e.item_id, e.failure_type, e.score, e.spans, e.word_weights
FROM explanations e
JOIN feedback_predictions fp ON fp.item_id = e.item_id AND fp.content_hash = e.content_hash
                            AND fp.model_version = e.model_version
WHERE list_contains(fp.failure_types, e.failure_type)
QUALIFY row_number() OVER (PARTITION BY e.item_id ORDER BY e.score DESC, e.failure_type) = 1;

-- Alert examples name their items and carry their 'why: …' line (same order as examples).
ALTER TABLE alerts ADD COLUMN example_items VARCHAR[];
ALTER TABLE alerts ADD COLUMN example_why VARCHAR[];
