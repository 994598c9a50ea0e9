-- The current explanations of some feedback items ($1: item ids).
SELECT item_id, failure_type, score, spans
FROM current_explanations
WHERE item_id IN (SELECT unnest($1::VARCHAR[]))
ORDER BY item_id;
