-- Items with text and no prediction of that text (same content hash) for the model version
-- ($1): new items, and items whose text an update changed.
SELECT 'feedback' AS item_kind, item_id, content_hash, text
FROM feedback f
WHERE NOT EXISTS (SELECT 1 FROM predictions p WHERE p.item_id = f.item_id AND p.model_version = $1
                  AND p.content_hash = f.content_hash)
UNION ALL
SELECT 'complaint', item_id, content_hash, text
FROM complaints c
WHERE c.text IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.item_id = c.item_id AND p.model_version = $1
                  AND p.content_hash = c.content_hash)
ORDER BY item_id;
