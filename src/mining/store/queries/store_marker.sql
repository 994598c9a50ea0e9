-- What the derived stages read from the store, summarised: any added, updated or relabelled
-- record changes a figure here.
SELECT
    (SELECT count(*) FROM feedback) AS feedback_rows,
    (SELECT max(coalesce(changed_at, ingested_at)) FROM feedback) AS feedback_changed,
    (SELECT count(*) FROM complaints) AS complaint_rows,
    (SELECT max(coalesce(changed_at, ingested_at)) FROM complaints) AS complaints_changed,
    (SELECT count(*) FROM predictions) AS prediction_rows,
    (SELECT max(predicted_at) FROM predictions) AS predictions_changed,
    (SELECT count(DISTINCT custom_version) FROM predictions) AS custom_versions,
    (SELECT max(custom_version) FROM predictions) AS custom_version
