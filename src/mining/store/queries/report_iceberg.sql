-- Silent negative items and formal complaints per site and failure type over the period.
SELECT site, failure_type, sum(silent_items) AS silent_items, sum(complaints) AS complaints,
       CASE WHEN sum(complaints) > 0 THEN round(sum(silent_items) / sum(complaints), 2) END
           AS silent_per_complaint
FROM iceberg_weekly
WHERE ($1 IS NULL OR site = $1)
  AND ($2 IS NULL OR week >= CAST($2 AS DATE) - INTERVAL 6 DAY)
  AND failure_type <> 'none'
GROUP BY ALL
ORDER BY silent_items DESC, complaints DESC, site, failure_type;
