-- Stored feedback with its current prediction: what `mining label export` ranks by margin.
SELECT item_id, site, language, text, model_version, sentiment, failure_types, failure_scores,
       responses, response_scores
FROM feedback_predictions
ORDER BY item_id;
