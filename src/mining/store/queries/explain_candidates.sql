-- Feedback items to explain ($1: item ids) with their current text and prediction, and the
-- failure types already explained for that text and model.
SELECT fp.item_id, fp.content_hash, fp.model_version, fp.text, fp.failure_types,
       fp.failure_scores,
       (SELECT list(e.failure_type ORDER BY e.failure_type) FROM explanations e
        WHERE e.item_id = fp.item_id AND e.content_hash = fp.content_hash
          AND e.model_version = fp.model_version) AS explained_types
FROM feedback_predictions fp
WHERE fp.item_id IN (SELECT unnest($1::VARCHAR[]))
ORDER BY fp.item_id;
