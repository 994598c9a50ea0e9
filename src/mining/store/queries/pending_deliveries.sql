-- Deliveries still waiting to be sent.
SELECT count(*) FROM alert_deliveries WHERE status = 'pending';
