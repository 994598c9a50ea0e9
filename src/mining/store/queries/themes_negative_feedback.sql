-- Negative feedback created in ($1, $2], with its newest prediction (themes.py picks the ones
-- no failure type covers).
SELECT item_id, created_at, site, text, failure_types
FROM feedback_predictions
WHERE sentiment = 'negative' AND created_at > $1 AND created_at <= $2;
