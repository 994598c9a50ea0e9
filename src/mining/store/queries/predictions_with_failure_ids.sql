-- Stored predictions that name any of the failure ids in $1 (old ids, now aliases), among
-- their predicted types or their scores.
SELECT *
FROM predictions
WHERE list_has_any(failure_types, $1::VARCHAR[])
   OR list_has_any(json_keys(failure_scores), $1::VARCHAR[]);
