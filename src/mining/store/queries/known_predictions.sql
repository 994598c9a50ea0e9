-- One existing prediction per content hash for the model version ($1) whose custom types come
-- from the current custom heads ($3), for reuse.
SELECT content_hash, any_value(sentiment) AS sentiment, any_value(sentiment_score) AS sentiment_score,
       any_value(failure_types) AS failure_types, any_value(failure_scores) AS failure_scores,
       any_value(responses) AS responses, any_value(response_scores) AS response_scores
FROM predictions
WHERE model_version = $1 AND content_hash IN (SELECT unnest($2::VARCHAR[]))
  AND coalesce(custom_version, '') = $3
GROUP BY content_hash;
