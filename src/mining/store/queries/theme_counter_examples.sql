-- Counter-examples for theme $1: negative feedback that a failure type other than `other`
-- covers, outside the theme, in a fixed pseudo-random order; at most $2 rows.
SELECT fp.text
FROM feedback_predictions fp
WHERE fp.sentiment = 'negative'
  AND len(list_filter(fp.failure_types, lambda x: x <> 'other')) > 0
  AND fp.item_id NOT IN (SELECT item_id FROM theme_items WHERE theme_id = $1)
ORDER BY md5(fp.item_id), fp.item_id
LIMIT $2;
