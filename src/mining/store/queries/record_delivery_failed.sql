-- $1 now, $2 next attempt, $3 status (pending | failed), $4 error, $5 alert_id, $6 channel,
-- $7 purpose
UPDATE alert_deliveries
SET status = $3, attempts = attempts + 1, last_attempt_at = $1, next_attempt_at = $2,
    last_error = $4
WHERE alert_id = $5 AND channel = $6 AND purpose = $7;
