-- Daily negative items per failure type, for one site or every site together ($1 NULL).
SELECT period_start AS day, failure_type, root_cause, negative_items, items, negative_share,
       ci_low, ci_high, change
FROM failure_type_trends
WHERE period = 'day' AND failure_type <> 'none'
  AND site = coalesce($1, '(all)')
  AND ($2 IS NULL OR period_start >= CAST($2 AS DATE))
ORDER BY day, failure_type;
