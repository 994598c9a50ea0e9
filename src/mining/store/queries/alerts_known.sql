-- Which of these alert ids ($1) are already in the outbox.
SELECT alert_id FROM alerts WHERE alert_id IN (SELECT unnest($1::VARCHAR[]));
