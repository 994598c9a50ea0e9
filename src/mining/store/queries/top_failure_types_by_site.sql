-- The most frequent negative failure types per site over all stored feedback ($1 = how many).
SELECT site, failure_type, root_cause, sum(items) AS negative_items
FROM daily_trends
WHERE sentiment = 'negative' AND failure_type <> 'none'
GROUP BY site, failure_type, root_cause
QUALIFY row_number() OVER (PARTITION BY site ORDER BY sum(items) DESC, failure_type) <= $1
ORDER BY site, negative_items DESC;
