-- Every complaint with the failure types the newest model read in its current text (NULL: no
-- text, or an edited text not classified yet).
SELECT c.item_id AS complaint_id, c.site, c.created_at, c.customer_id, c.status, c.resolved_at,
       c.category, p.failure_types
FROM complaints c
LEFT JOIN predictions p ON p.item_id = c.item_id AND p.content_hash = c.content_hash
QUALIFY row_number() OVER (PARTITION BY c.item_id
                           ORDER BY p.predicted_at DESC NULLS LAST, p.model_version DESC) = 1
ORDER BY c.item_id;
