-- Alerts with their delivery state, newest first ($1: only unacknowledged when true).
SELECT a.alert_id, a.kind, a.site, a.failure_type AS type,
       strftime(a.window_start, '%Y-%m-%d %H:%M') AS window,
       a.negative || ' vs ' || round(a.expected, 1) AS "negative vs expected",
       printf('%.1e', a.p_value) AS p,
       a.manager,
       CASE WHEN a.acked_at IS NULL THEN 'no' ELSE 'yes' END AS acked,
       count(*) FILTER (WHERE d.status = 'sent') || '/' ||
       count(*) FILTER (WHERE d.status = 'pending') || '/' ||
       count(*) FILTER (WHERE d.status = 'failed') AS "sent/pending/failed",
       coalesce(bool_or(d.purpose = 'escalation'), false) AS escalated
FROM alerts a
LEFT JOIN alert_deliveries d USING (alert_id)
WHERE NOT $1 OR a.acked_at IS NULL
GROUP BY ALL
ORDER BY any_value(a.window_start) DESC, a.alert_id;
