-- The newest centroid of every theme found before with encoder $1 (for stable ids).
SELECT t.theme_id, t.centroid, t.first_seen_at
FROM themes t
JOIN theme_runs r USING (run_id)
WHERE r.encoder_digest = $1
QUALIFY row_number() OVER (PARTITION BY t.theme_id ORDER BY r.computed_at DESC, r.run_id DESC) = 1
ORDER BY t.theme_id;
