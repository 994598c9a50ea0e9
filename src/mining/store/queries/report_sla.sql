-- Open complaints past their response target.
SELECT site, complaint_id, created_at, category, is_complex, sla_target_days,
       round(age_days, 1) AS age_days
FROM complaint_sla
WHERE breached AND ($1 IS NULL OR site = $1)
  AND ($2 IS NULL OR created_at >= CAST($2 AS TIMESTAMP))
ORDER BY site, created_at;
