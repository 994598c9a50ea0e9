"""`mining run` end to end, in real subprocesses, with the real model and a real DuckDB file."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.project import last_run, make_project
from tests.support.project import read_rows as table_rows

pytestmark = pytest.mark.integration

def run_command(repo: Path, config: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "mining.cli", "run", "--sources", str(config), "--db", str(db),
            "--read-copy", str(db.with_name(db.stem + "_read.duckdb"))]


def run_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MINING_CLASSIFY_CHUNK_SIZE="32", **extra)
    return env


def run(repo: Path, config: Path, db: Path, tmp: Path) -> str:
    done = subprocess.run(run_command(repo, config, db), cwd=repo, env=run_env(tmp),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done.stdout


def test_run_stores_every_row_and_a_second_run_does_nothing(tmp_path: Path,
                                                            repo_root: Path) -> None:
    config = make_project(tmp_path, repo_root, n_reviews=120, n_complaints=15)
    db = tmp_path / "radar.duckdb"
    out = run(repo_root, config, db, tmp_path)
    assert "Top negative failure types by site" in out

    first = last_run(db)
    assert first["status"] == "succeeded"
    stored = table_rows(db, "SELECT (SELECT count(*) FROM feedback), (SELECT count(*) FROM "
                            "complaints), (SELECT count(*) FROM quarantine)")[0]
    assert first["rows_read"] == 120 + 15 + 6
    assert (first["feedback_added"], first["complaints_added"], first["quarantined"]) == stored
    assert sum(stored) + first["duplicates"] == first["rows_read"]
    reasons = dict(table_rows(db, "SELECT reason, count(*) FROM quarantine GROUP BY reason"))
    assert reasons == {"empty_text": 1, "unparseable_date": 1, "unknown_site": 1,
                       "oversize_text": 1, "bad_encoding": 1}
    # Every stored text has a prediction from the run's model.
    predicted = table_rows(db, "SELECT count(*) FROM predictions")[0][0]
    assert predicted == stored[0] + stored[1]
    assert first["classified"] + first["predictions_reused"] == predicted
    # PII was redacted before it reached the store.
    texts = " ".join(t for (t,) in table_rows(db, "SELECT text FROM feedback"))
    assert "jane.doe@example.com" not in texts and "867-5309" not in texts
    assert "[EMAIL]" in texts and "[PHONE]" in texts
    assert table_rows(db, "SELECT count(*) FROM daily_trends")[0][0] > 0

    run(repo_root, config, db, tmp_path)
    second = last_run(db)
    assert second["run_id"] != first["run_id"]
    assert (second["rows_read"], second["feedback_added"], second["complaints_added"],
            second["quarantined"], second["classified"], second["predictions_reused"]) == (
        0, 0, 0, 0, 0, 0)
    assert table_rows(db, "SELECT count(*) FROM predictions")[0][0] == predicted
    # Nothing the derived stages read changed: they were skipped, and their tables stand.
    stages = json.loads(second["stage_seconds"])
    assert "aggregate" not in stages and "themes" not in stages and "explain" not in stages
    assert {"ingest", "classify", "alerts"} <= set(stages)
    assert table_rows(db, "SELECT count(*) FROM daily_trends")[0][0] > 0


def snapshot(db: Path) -> dict[str, list[tuple]]:
    return {
        "feedback": table_rows(db, "SELECT item_id, content_hash, site, created_at, text "
                                   "FROM feedback ORDER BY item_id"),
        "complaints": table_rows(db, "SELECT item_id, status, text FROM complaints "
                                     "ORDER BY item_id"),
        "quarantine": table_rows(db, "SELECT quarantine_id, reason FROM quarantine "
                                     "ORDER BY quarantine_id"),
        "predictions": table_rows(db, "SELECT item_id, model_version, sentiment, failure_types "
                                      "FROM predictions ORDER BY item_id"),
        "daily_trends": table_rows(db, "SELECT * FROM daily_trends ORDER BY ALL"),
    }


def test_killed_run_rerun_equals_uninterrupted_run(tmp_path: Path, repo_root: Path) -> None:
    config = make_project(tmp_path, repo_root, n_reviews=400, n_complaints=40)
    reference = tmp_path / "reference.duckdb"
    run(repo_root, config, reference, tmp_path)

    killed = tmp_path / "killed.duckdb"
    process = subprocess.Popen(run_command(repo_root, config, killed), cwd=repo_root,
                               env=run_env(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)

    threading.Thread(target=watch, daemon=True).start()
    deadline = time.monotonic() + 600
    while not any("classifying with" in line for line in seen):
        assert process.poll() is None, "".join(seen)[-3000:]
        assert time.monotonic() < deadline, "classification never started"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    partial = table_rows(killed, "SELECT count(*) FROM predictions")[0][0]
    assert partial < len(snapshot(reference)["predictions"]), "the kill came too late to test"
    assert table_rows(killed, "SELECT status FROM runs")[0][0] == "running"

    run(repo_root, config, killed, tmp_path)
    assert snapshot(killed) == snapshot(reference)
    statuses = [s for (s,) in table_rows(killed, "SELECT status FROM runs ORDER BY started_at")]
    assert statuses == ["abandoned", "succeeded"]


def test_analysts_can_read_while_a_run_writes(tmp_path: Path, repo_root: Path) -> None:
    config = make_project(tmp_path, repo_root, n_reviews=300, n_complaints=20)
    db = tmp_path / "radar.duckdb"
    read_copy = tmp_path / "radar_read.duckdb"
    run(repo_root, config, db, tmp_path)
    before = table_rows(read_copy, "SELECT count(*) FROM runs")[0][0]

    # New feedback arrives; the next run is long enough to be caught in the middle.
    extra = tmp_path / "reviews" / "more.csv"
    with (repo_root / "data" / "samples" / "reviews" / "airline_tweets.csv").open(
            encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with extra.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *rows[301:900]])
    process = subprocess.Popen(run_command(repo_root, config, db), cwd=repo_root,
                               env=run_env(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    reads = 0
    code = ("import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute('select count(*) from feedback').fetchone()[0])")
    while process.poll() is None:
        reader = subprocess.run([sys.executable, "-c", code, str(read_copy)],
                                capture_output=True, text=True)
        assert reader.returncode == 0, reader.stderr
        assert int(reader.stdout) > 0
        reads += 1
    output = process.stdout.read() if process.stdout else ""
    assert process.returncode == 0, output[-3000:]
    assert reads >= 3
    after = table_rows(read_copy, "SELECT count(*) FROM runs")[0][0]
    assert after == before + 1
    assert json.loads(table_rows(db, "SELECT stage_seconds FROM runs ORDER BY started_at "
                                     "DESC LIMIT 1")[0][0])["classify"] > 0
