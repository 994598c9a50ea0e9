-- Deliveries to try now ($1 = now), oldest first, with the alert they carry.
SELECT d.alert_id, d.channel, d.purpose, d.idempotency_key, d.attempts, a.*
FROM alert_deliveries d
JOIN alerts a USING (alert_id)
WHERE d.status = 'pending' AND d.next_attempt_at <= $1
ORDER BY d.created_at, d.alert_id, d.channel;
