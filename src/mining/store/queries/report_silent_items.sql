-- The most clearly silent items (text already redacted).
SELECT created_at, site, failure_types, silent_signals, round(silent_score, 3) AS silent_score,
       text
FROM silent_items
WHERE ($1 IS NULL OR site = $1) AND ($2 IS NULL OR created_at >= CAST($2 AS TIMESTAMP))
ORDER BY silent_score DESC, created_at DESC, item_id
LIMIT 15;
