-- Weekly negative share per root cause with its 95% Wilson interval.
SELECT period_start AS week, root_cause, negative_items, items, negative_share, ci_low, ci_high,
       previous_share, change
FROM root_cause_trends
WHERE period = 'week' AND root_cause <> 'none'
  AND site = coalesce($1, '(all)')
  AND ($2 IS NULL OR period_start >= CAST($2 AS DATE) - INTERVAL 6 DAY)
ORDER BY week, root_cause;
