-- The most clearly silent items (text already redacted), with the words that drove the top
-- failure type when the item is explained (item_id and why_* are for rendering, not shown).
SELECT created_at, site, failure_types, silent_signals, round(silent_score, 3) AS silent_score,
       text, item_id, e.failure_type AS why_type, e.spans AS why_spans
FROM silent_items
LEFT JOIN current_explanations e USING (item_id)
WHERE ($1 IS NULL OR site = $1) AND ($2 IS NULL OR created_at >= CAST($2 AS TIMESTAMP))
ORDER BY silent_score DESC, created_at DESC, item_id
LIMIT 15;
