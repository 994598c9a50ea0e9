-- Failure types that account for most of the negativity (over all stored feedback).
SELECT failure_type, type_items, round(type_negative_share, 3) AS type_negative_share,
       round(negative_share, 3) AS negative_share,
       round(negative_share_without_type, 3) AS negative_share_without_type,
       round(negativity_points, 2) AS negativity_points
FROM drivers
WHERE site = coalesce($1, '(all)')
ORDER BY negativity_points DESC, failure_type;
