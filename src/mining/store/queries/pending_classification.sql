-- Items with text and no prediction for the given model version ($1).
SELECT 'feedback' AS item_kind, item_id, content_hash, text
FROM feedback f
WHERE NOT EXISTS (SELECT 1 FROM predictions p WHERE p.item_id = f.item_id AND p.model_version = $1)
UNION ALL
SELECT 'complaint', item_id, content_hash, text
FROM complaints c
WHERE c.text IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.item_id = c.item_id AND p.model_version = $1)
ORDER BY item_id;
