-- Headline counts for the report's period.
SELECT count(*) AS feedback_items,
       count(*) FILTER (WHERE sentiment = 'negative') AS negative_items,
       count(*) FILTER (WHERE silent) AS silent_items,
       count(*) FILTER (WHERE voiced AND sentiment = 'negative') AS voiced_negative_items,
       min(created_at) AS first_item, max(created_at) AS last_item,
       any_value(model_version) AS model_version
FROM feedback_enriched
WHERE ($1 IS NULL OR site = $1) AND ($2 IS NULL OR created_at >= CAST($2 AS TIMESTAMP));
