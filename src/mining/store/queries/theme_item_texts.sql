-- The items of theme $1 in the newest run that found it, nearest the centroid first.
SELECT f.text
FROM theme_items ti
JOIN feedback f USING (item_id)
WHERE ti.theme_id = $1
  AND ti.run_id = (SELECT t.run_id FROM themes t JOIN theme_runs r USING (run_id)
                   WHERE t.theme_id = $1 ORDER BY r.computed_at DESC, r.run_id DESC LIMIT 1)
ORDER BY ti.distance, ti.item_id;
