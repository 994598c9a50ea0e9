"""Emerging themes end to end: `mining run` twice on real texts where a problem no failure type
names recurs (the 2012 Mengniu dairy scandal, in Chinese shopping reviews), among real
negative airline tweets; then the view, the report section, `mining themes list` and the
training examples a custom type would start from."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mining.analysis.themes import theme_examples
from mining.redact import redact
from mining.store.db import Store
from tests.support.project import last_run
from tests.support.project import read_rows as rows

pytestmark = pytest.mark.integration

AIRLINES = ["American", "Delta", "Southwest", "United", "US Airways", "Virgin America"]
START = datetime(2015, 3, 1)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def real_texts(shared: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Negative Mengniu reviews, and negative tweets from every airline (every 7th)."""
    dairy = list(dict.fromkeys(
        r["review"].strip() for r in _csv(shared / "chinese_online_shopping" / "reviews.csv")
        if r["cat"] == "蒙牛" and r["label"] == "0" and r["review"].strip()))
    tweets = list({r["text"]: (r["airline"], r["text"])
                   for r in _csv(shared / "airline_tweets" / "tweets.csv")
                   if r["airline_sentiment"] == "negative"}.values())[::7]
    return dairy, tweets


def write_feedback(path: Path, rows: list[tuple[str, str]], first_day: float, days: float,
                   prefix: str) -> None:
    step = timedelta(days=days) / len(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "site", "created_at", "text"])
        for n, (site, text) in enumerate(rows):
            when = START + timedelta(days=first_day) + step * n
            out.writerow([f"{prefix}{n}", site, when.strftime("%Y-%m-%d %H:%M:%S"), text])


def make_project(root: Path, shared: Path) -> tuple[Path, Path]:
    """Week 1 (previous window) and week 2 (current) in one file; a later file adds more of
    week 2 without moving its end."""
    dairy, tweets = real_texts(shared)
    inbox = root / "feedback"
    inbox.mkdir(parents=True)
    shop = "Dairy Shop"
    write_feedback(inbox / "week1.csv", [(shop, t) for t in dairy[:75]] + tweets[:250],
                   0, 6.9, "w1-")
    write_feedback(inbox / "week2.csv", [(shop, t) for t in dairy[75:300]] + tweets[250:1000],
                   7.05, 6.9, "w2-")
    later = root / "week2_more.csv"
    write_feedback(later, [(shop, t) for t in dairy[300:375]] + tweets[1000:], 7.1, 6.5, "w2b-")
    config = root / "sources.yaml"
    config.write_text(f"""
sites: [{shop}, {", ".join(AIRLINES)}]
sources:
  - name: reviews
    kind: feedback
    type: folder
    path: {inbox}
    mapping: {{text: text, created_at: created_at, site: site, external_id: id}}
""", encoding="utf-8")
    return config, later


def mining(repo: Path, tmp: Path, *args: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ, MINING_FEATURE_CACHE_DIR=str(tmp / "features"),
               MINING_READ_COPY_PATH=str(tmp / "radar_read.duckdb"), COLUMNS="200",
               **(env or {}))
    done = subprocess.run([sys.executable, "-m", "mining.cli", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done.stdout


THEMES = ("SELECT theme_id, size, previous_size, growth, keywords, sites, examples, run_id, "
          "window_end, first_seen_at FROM emerging_themes ORDER BY size DESC")


def test_a_recurring_uncovered_problem_is_a_stable_theme_in_view_and_report(
        tmp_path: Path, repo_root: Path, shared_data: Path) -> None:
    config, later = make_project(tmp_path, shared_data)
    db, read_copy = tmp_path / "radar.duckdb", tmp_path / "radar_read.duckdb"
    run = ("run", "--sources", str(config), "--db", str(db), "--read-copy", str(read_copy))
    mining(repo_root, tmp_path, *run)
    first_run = last_run(db)
    assert first_run["status"] == "succeeded"
    assert "themes" in json.loads(first_run["stage_seconds"])

    themes = rows(read_copy, THEMES)
    assert themes, "no theme found"
    newest = rows(db, "SELECT max(created_at) FROM feedback")[0][0]
    assert {t[7] for t in themes} == {first_run["run_id"]} and {t[8] for t in themes} == {newest}
    # Every member is a negative item of the window that no failure type covers.
    members = rows(db, f"""
        SELECT fp.sentiment, fp.failure_types, fp.created_at, ti.theme_id, fp.text, fp.site
        FROM theme_items ti JOIN feedback_predictions fp USING (item_id)
        WHERE ti.run_id = '{first_run["run_id"]}'""")
    assert len(members) == sum(t[1] for t in themes)
    for sentiment, types, created, _, _, _ in members:
        assert sentiment == "negative" and set(types) <= {"other"}
        assert newest - timedelta(days=7) < created <= newest

    dairy = [t for t in themes if t[4] and t[4][0] == "蒙牛"]
    assert dairy, [t[4] for t in themes]
    for theme_id, size, _, _, _, sites, examples, *_ in dairy:
        assert size >= 10 and sites[0] == "Dairy Shop"
        texts = {redact(text) for _, _, _, tid, text, _ in members if tid == theme_id}
        assert len(examples) == 3 and set(examples) <= texts
    # Week 1 had a third as many dairy reviews as week 2: the themes grew.
    grown = max(dairy, key=lambda t: t[1])
    assert 0 < grown[2] < grown[1] and grown[3] == pytest.approx(grown[1] / grown[2] - 1)
    english = [t for t in themes if set(t[5]) <= set(AIRLINES)]
    assert english and all(w.isascii() for t in english for w in t[4])

    # Training examples for `mining types add --from-theme`: the theme's items and others.
    with Store.open(db) as store:
        examples = theme_examples(store, grown[0])
    assert sum(label for _, label in examples) == grown[1]
    assert {label for _, label in examples} == {0, 1}

    # More of the same week arrives: the next run keeps the ids of the themes that persist.
    later.rename(tmp_path / "feedback" / later.name)
    mining(repo_root, tmp_path, *run)
    second_run = last_run(db)
    again = {t[0]: t for t in rows(read_copy, THEMES)}
    assert {t[7] for t in again.values()} == {second_run["run_id"]}
    assert grown[0] in again, (grown, list(again))
    assert again[grown[0]][9] == grown[9]  # first seen by the first run
    # Still the dairy boycott: its shop, and the brand among its top keywords (with model
    # 2026-12-02.2 the second run's first keyword is 抵制 "boycott", 蒙牛 close behind).
    assert again[grown[0]][5][0] == "Dairy Shop" and "蒙牛" in again[grown[0]][4][:3]

    # No text was encoded twice: every cached key is unique.
    keys = [k for part in (tmp_path / "features").glob("*/part-*.parquet")
            for k in pq.read_table(part).column("key").to_pylist()]
    assert keys and len(keys) == len(set(keys))

    report = tmp_path / "report.html"
    mining(repo_root, tmp_path, "report", "--out", str(report))
    page = report.read_text(encoding="utf-8")
    section = page[page.index("<section id='themes'>"):]
    section = section[:section.index("</section>")]
    assert "Problems no type names yet" in section and grown[0] in section
    assert "蒙牛" in section and "Dairy Shop" in section
    listed = mining(repo_root, tmp_path, "themes", "list")
    assert grown[0] in listed

    # The theme becomes a custom type: its items are the examples, history is relabelled.
    with Store.open(db) as store:
        examples = theme_examples(store, grown[0])
    positives = sum(label for _, label in examples)
    taxonomy = tmp_path / "config" / "taxonomy.yaml"
    taxonomy.parent.mkdir()
    shutil.copy2(repo_root / "config" / "taxonomy.yaml", taxonomy)
    added = mining(repo_root, tmp_path, "types", "add", "dairy_boycott", "--root-cause",
                   "product", "--description", "Boycott of a dairy brand after a scandal",
                   "--from-theme", grown[0], "--force",
                   env={"MINING_DB_PATH": str(db), "MINING_TAXONOMY_PATH": str(taxonomy),
                        "MINING_CUSTOM_HEADS_DIR": str(tmp_path / "heads")})
    written = tmp_path / "config" / "custom_types" / "dairy_boycott.theme.csv"
    with written.open(encoding="utf-8", newline="") as handle:
        labelled = [(r["text"], int(r["label"])) for r in csv.DictReader(handle)]
    assert sorted(labelled) == sorted(examples)
    assert f"n = {positives} positives" in " ".join(added.split())
    tagged = rows(db, "SELECT text FROM feedback_predictions "
                      "WHERE list_contains(failure_types, 'dairy_boycott')")
    assert tagged and sum("蒙牛" in t for (t,) in tagged) / len(tagged) > 0.8
