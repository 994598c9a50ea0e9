-- Stored items (feedback and complaints, current text, newest prediction) per failure type.
WITH current AS (
    SELECT p.item_id, p.failure_types
    FROM predictions p
    JOIN (SELECT item_id, content_hash FROM feedback
          UNION ALL
          SELECT item_id, content_hash FROM complaints WHERE text IS NOT NULL) t
      ON t.item_id = p.item_id AND t.content_hash = p.content_hash
    QUALIFY row_number() OVER (PARTITION BY p.item_id
                               ORDER BY p.predicted_at DESC, p.model_version DESC) = 1
)
SELECT failure_type, count(*) AS items
FROM (SELECT unnest(failure_types) AS failure_type FROM current)
GROUP BY failure_type
ORDER BY failure_type;
