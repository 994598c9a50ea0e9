-- Expected lost customers per site and failure type (over all stored data), with the rates.
SELECT site, failure_type, silent, complained_unresolved, resolved, resolved_quickly,
       dissatisfied, expected_lost, repurchase_rate_silent, repurchase_rate_complained_unresolved,
       repurchase_rate_resolved, repurchase_rate_resolved_quickly
FROM customers_at_risk
WHERE ($1 IS NULL OR site = $1) AND failure_type <> 'none'
ORDER BY expected_lost DESC, site, failure_type;
