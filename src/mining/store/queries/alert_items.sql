-- Classified feedback as spike detection and alert examples need it.
SELECT item_id, site, created_at, sentiment, sentiment_score, failure_types, silent,
       silent_score, text
FROM feedback_enriched
ORDER BY created_at, item_id;
