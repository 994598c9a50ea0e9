-- $1 now, $2 alert_id, $3 channel, $4 purpose
UPDATE alert_deliveries
SET status = 'sent', attempts = attempts + 1, last_attempt_at = $1, sent_at = $1,
    last_error = NULL
WHERE alert_id = $2 AND channel = $3 AND purpose = $4;
