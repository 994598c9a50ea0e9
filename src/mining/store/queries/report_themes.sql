-- Themes of the newest run (problems no failure type names yet), largest first; with a site,
-- only the themes that reach it.
SELECT theme_id, keywords, size, previous_size, growth, sites, examples, window_end
FROM emerging_themes
WHERE ($1 IS NULL OR list_contains(sites, $1))
ORDER BY size DESC, theme_id;
