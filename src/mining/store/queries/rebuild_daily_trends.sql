-- Rebuild daily_trends from the newest predictions (deterministic: same rows for the same data).
DELETE FROM daily_trends;
INSERT INTO daily_trends
WITH site_days AS (
    SELECT CAST(created_at AS DATE) AS day, site, count(*) AS site_day_items
    FROM feedback_predictions GROUP BY ALL
),
typed AS (
    SELECT CAST(created_at AS DATE) AS day, site, failure_type, sentiment, count(*) AS items
    FROM feedback_failure_types GROUP BY ALL
)
SELECT t.day, t.site, t.failure_type,
       coalesce(r.root_cause, CASE WHEN t.failure_type = 'none' THEN 'none' ELSE 'unknown' END),
       t.sentiment, t.items,
       sum(t.items) OVER (PARTITION BY t.day, t.site, t.failure_type) AS type_items,
       s.site_day_items
FROM typed t
JOIN site_days s USING (day, site)
LEFT JOIN failure_type_root_causes r USING (failure_type);
