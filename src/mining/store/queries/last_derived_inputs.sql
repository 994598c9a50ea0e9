-- The newest run that began the derived stages: what it read, and whether it finished.
-- A run killed in those stages leaves 'pending:<digest>', so the next run rebuilds them.
SELECT derived_inputs, status
FROM runs
WHERE derived_inputs IS NOT NULL
ORDER BY started_at DESC
LIMIT 1
