-- `mining themes list`: the newest run's themes, largest first.
SELECT theme_id, size, previous_size, growth, keywords, sites, examples, first_seen_at,
       window_start, window_end
FROM emerging_themes
ORDER BY size DESC, theme_id;
