-- Views analysts and later stages build on.

-- Feedback with its prediction from the newest model version that classified it.
CREATE VIEW feedback_predictions AS
SELECT f.*, p.model_version, p.sentiment, p.sentiment_score, p.failure_types, p.failure_scores,
       p.responses, p.response_scores
FROM feedback f
JOIN predictions p ON p.item_id = f.item_id
QUALIFY row_number() OVER (PARTITION BY f.item_id ORDER BY p.predicted_at DESC, p.model_version DESC) = 1;

-- One row per feedback item and failure type ('none' when the model found no failure).
CREATE VIEW feedback_failure_types AS
SELECT fp.item_id, fp.site, fp.created_at, fp.sentiment,
       coalesce(ft.failure_type, 'none') AS failure_type
FROM feedback_predictions fp
LEFT JOIN (SELECT item_id, unnest(failure_types) AS failure_type FROM feedback_predictions) ft
  ON ft.item_id = fp.item_id;
