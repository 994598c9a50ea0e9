-- Predictions of the model version ($1) whose custom types come from other custom heads than
-- the current ones ($2), with the item's text (the feature cache's key). A prediction of a text
-- the item no longer has is left alone: it is stale, and replaced when the new text is read.
SELECT p.item_id, p.model_version, p.item_kind, p.content_hash, p.sentiment, p.sentiment_score,
       p.failure_types, p.failure_scores, p.responses, p.response_scores, p.run_id,
       p.predicted_at, t.text
FROM predictions p
JOIN (SELECT 'feedback' AS item_kind, item_id, content_hash, text FROM feedback
      UNION ALL
      SELECT 'complaint', item_id, content_hash, text FROM complaints WHERE text IS NOT NULL) t
  ON t.item_id = p.item_id AND t.item_kind = p.item_kind AND t.content_hash = p.content_hash
WHERE p.model_version = $1 AND coalesce(p.custom_version, '') <> $2
ORDER BY p.item_id;
