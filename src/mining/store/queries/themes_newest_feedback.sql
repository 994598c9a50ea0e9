-- Where the emerging-themes window ends: the newest stored feedback item (data may be old).
SELECT max(created_at) FROM feedback;
