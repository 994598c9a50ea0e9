-- Quarantined rows of one run ($1) by source and reason.
SELECT source, reason, count(*) AS rows
FROM quarantine WHERE run_id = $1
GROUP BY ALL ORDER BY rows DESC, source, reason;
