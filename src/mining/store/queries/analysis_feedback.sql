-- Classified feedback with what the silence analysis needs.
SELECT item_id, created_at, site, customer_id, rating, sentiment, sentiment_score,
       failure_types, responses, response_scores
FROM feedback_predictions
ORDER BY item_id;
