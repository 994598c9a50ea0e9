-- $1 now, $2 who, $3 alert_id; returns the alert if it exists
UPDATE alerts SET acked_at = coalesce(acked_at, $1), acked_by = coalesce(acked_by, $2)
WHERE alert_id = $3
RETURNING alert_id, acked_at, acked_by;
