"""Why this label, end to end: `mining run` on a slice of the bundled sample with the real model
explains exactly the items the report and the new alert show; the report marks the words and
the alert's messages (real local HTTP and SMTP receivers) carry the why line."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest

from mining.classify.explain import catch_all_types, explain_stored
from mining.classify.model import FeedbackClassifier
from mining.report import write_report
from mining.store.db import Store
from mining.taxonomy import Taxonomy
from tests.support.project import last_run, make_project
from tests.support.project import read_rows as query
from tests.support.receivers import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.integration

# The sample's tweets up to 2015-02-20 10:50, then a day of its own negative Delta tweets.
REVIEWS_TO_FEB_20 = 895
SPIKE_DAY, SPIKE_SIZE = "2/21/2015", 30


def add_spike_day(reviews: Path, repo_root: Path) -> None:
    """The sample's next tweets that its labellers called negative about Delta, moved to the day
    after the slice: a spike in the data itself, whatever a model makes of the days before."""
    with (repo_root / "data" / "samples" / "reviews" / "airline_tweets.csv").open(
            encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)[REVIEWS_TO_FEB_20:]
    picked = [r for r in rows if r["airline"] == "Delta"
              and r["airline_sentiment"] == "negative"][:SPIKE_SIZE]
    for i, row in enumerate(picked):
        row["tweet_created"] = f"{SPIKE_DAY} {9 + i // 6}:{i % 6 * 10:02d}"
    assert fields and len(picked) == SPIKE_SIZE
    with (reviews / "spike_day.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(picked)


def alerts_yaml(path: Path, report: Path) -> Path:
    path.write_text(f"""
report_path: {report}
channels:
  hook: {{type: webhook, url_env: T_WEBHOOK_URL}}
  mail: {{type: email, to: [duty@example.com], host_env: T_SMTP_HOST, port_env: T_SMTP_PORT}}
managers:
  duty: {{name: Duty manager, channels: [hook, mail]}}
default_manager: duty
""", encoding="utf-8")
    return path


def test_only_shown_items_are_explained_and_both_report_and_alert_show_why(
        tmp_path: Path, repo_root: Path) -> None:
    config = make_project(tmp_path, repo_root, n_reviews=REVIEWS_TO_FEB_20, n_complaints=40)
    (tmp_path / "reviews" / "bad_rows.csv").unlink()  # dated later: would end the spike's day
    add_spike_day(tmp_path / "reviews", repo_root)
    db, read_copy = tmp_path / "radar.duckdb", tmp_path / "radar_read.duckdb"
    http, smtp = WebhookReceiver(), SmtpReceiver()
    try:
        env = {**os.environ, "MINING_ALERTS_CONFIG": str(alerts_yaml(tmp_path / "alerts.yaml",
                                                       tmp_path / "report.html")),
               "T_WEBHOOK_URL": http.url("/hook"), "T_SMTP_HOST": "127.0.0.1",
               "T_SMTP_PORT": str(smtp.port)}
        done = subprocess.run(
            [sys.executable, "-m", "mining.cli", "run", "--sources", str(config), "--db", str(db),
             "--read-copy", str(read_copy)],
            cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        posts, mails = list(http.on("/hook")), list(smtp.messages)
    finally:
        http.close()
        smtp.close()
    run = last_run(db)
    assert run["status"] == "succeeded" and run["alerts_new"] >= 1
    assert "explain" in json.loads(run["stage_seconds"])
    spikes = query(db, "SELECT site, strftime(window_start, '%Y-%m-%d') FROM alerts")
    assert ("Delta", "2015-02-21") in spikes, spikes

    # The shown set: the report's silent items and the new alerts' example items, those whose
    # top predicted type is one the model names (not the catch-all `other`).
    skip = set(catch_all_types(Taxonomy.load(repo_root / "config" / "taxonomy.yaml")))
    with Store.open(db) as store:
        report_ids = store.query("report_silent_items", [None, None]).column("item_id")
        alert_ids = [i for (items,) in store.execute("SELECT example_items FROM alerts")
                     .fetchall() for i in items]
        shown = set(map(str, report_ids.to_pylist())) | set(alert_ids)
        typed = {item_id for item_id, types in store.execute(
            "SELECT item_id, failure_types FROM feedback_predictions").fetchall()
            if set(types) - skip}
        explained = [r[0] for r in store.execute("SELECT item_id FROM explanations").fetchall()]
        negative = store.execute("SELECT count(*) FROM feedback_predictions "
                                 "WHERE sentiment = 'negative'").fetchall()[0][0]
        assert alert_ids and sorted(explained) == sorted(shown & typed)
        assert 0 < len(explained) < negative / 10  # the shown items, never the whole batch

        # Explained once: asked again, every item is reused and the model is never loaded.
        def no_model() -> FeedbackClassifier:
            raise AssertionError("the model was loaded for items already explained")

        again = explain_stored(store, no_model, sorted(shown), "again", skip_types=skip)
        assert (again.explained, again.reused) == (0, len(explained))

    # The report marks every span of its explained silent items, in their texts.
    html = write_report(read_copy, tmp_path / "report.html").read_text(encoding="utf-8")
    with Store.open(read_copy, migrate=False) as store:
        rows = store.query("report_silent_items", [None, None]).to_pylist()
    spans = [s for r in rows for s in json.loads(r["why_spans"] or "[]")]
    assert spans and html.count("<mark title='drove ") == len(spans)
    # Marked words are HTML-escaped like the rest of the text ("didn't" has an apostrophe).
    assert all(f">{escape(s['text'])}</mark>" in html for s in spans)

    # The alert's messages carry the why line of each explained example.
    why = [w for (lines,) in query(db, "SELECT example_why FROM alerts") for w in lines if w]
    assert why and all(w.startswith("why: «") and " → " in w for w in why)
    hook_why = [w for p in posts for w in p.body["alert"]["example_why"] if w]
    assert hook_why and set(hook_why) <= set(why)
    bodies = [m.get_content() for m in mails]
    assert bodies and any(w in body for body in bodies for w in why)
