-- Unacknowledged alerts raised before $1 (now - ack window) and not yet escalated.
SELECT a.alert_id
FROM alerts a
WHERE a.acked_at IS NULL AND a.created_at <= $1
  AND NOT EXISTS (SELECT 1 FROM alert_deliveries d
                  WHERE d.alert_id = a.alert_id AND d.purpose = 'escalation')
ORDER BY a.alert_id;
