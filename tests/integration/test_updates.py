"""Updates through `mining run` with the real model and a real DuckDB file (issue 14).

A CRM re-export resolves a ticket: the SLA breach, the recovery outcome and customers at risk
follow. A review's text is edited: it is classified again and the trends use the new prediction.
Identical texts at two sites without ids stay two records. The same exports read again change
nothing.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

pytestmark = pytest.mark.integration

REVIEW_COLUMNS = ["review_id", "text", "date", "hotel", "stars", "guest"]
TICKET_COLUMNS = ["ticket_id", "text", "opened", "hotel", "status", "resolved", "category",
                  "guest"]
CARD_COLUMNS = ["comment", "date", "hotel"]
HAPPY = "Lovely room and very friendly staff, we will definitely come back"
EDITED = "The room was dirty, we waited an hour for towels and the manager was rude to us"
TICKET = ["T1", "We waited two hours to check in and nobody helped us", "2026-05-20 10:30",
          "Hotel A", "open", "", "longlines", "guest2"]


def write(path: Path, columns: list[str], rows: Sequence[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


def make_project(root: Path) -> Path:
    write(root / "reviews" / "export.csv", REVIEW_COLUMNS, [
        ("R1", HAPPY, "2026-05-20 09:00", "Hotel B", "5", "guest1"),
        ("R2", "We waited two hours to check in and nobody apologised", "2026-05-20 10:00",
         "Hotel A", "1", "guest2")])
    write(root / "cards" / "cards.csv", CARD_COLUMNS, [
        ("Great stay, friendly staff", "2026-05-20", "Hotel A"),
        ("Great stay, friendly staff", "2026-05-21", "Hotel B")])
    write(root / "crm" / "tickets.csv", TICKET_COLUMNS, [TICKET])
    config = root / "sources.yaml"
    config.write_text(f"""
sites: [Hotel A, Hotel B]
sources:
  - name: reviews
    kind: feedback
    type: folder
    path: {root / "reviews"}
    mapping: {{text: text, created_at: date, site: hotel, external_id: review_id,
               rating: stars, customer_id: guest}}
  - name: comment_cards
    kind: feedback
    type: folder
    path: {root / "cards"}
    mapping: {{text: comment, created_at: date, site: hotel}}
  - name: crm
    kind: complaint
    type: folder
    path: {root / "crm"}
    mapping: {{text: text, created_at: opened, site: hotel, external_id: ticket_id,
               status: status, resolved_at: resolved, category: category, customer_id: guest}}
""", encoding="utf-8")
    return config


def run(repo: Path, config: Path, db: Path, tmp: Path) -> str:
    env = {**os.environ, "MINING_PSEUDONYM_KEY": "integration-test-key"}
    done = subprocess.run(
        [sys.executable, "-m", "mining.cli", "run", "--sources", str(config), "--db", str(db),
         "--read-copy", str(db.with_name("read.duckdb"))],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done.stdout


def query(db: Path, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def last_run(db: Path) -> dict[str, Any]:
    row = query(db, "SELECT * FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    assert row["status"] == "succeeded"
    assert row["rows_read"] == (row["feedback_added"] + row["complaints_added"]
                                + row["feedback_updated"] + row["complaints_updated"]
                                + row["quarantined"] + row["duplicates"])
    return row


def figures(db: Path) -> dict[str, Any]:
    ticket = query(db, "SELECT outcome FROM complaint_facts")[0]
    risk = query(db, "SELECT sum(complained_unresolved) AS unresolved, "
                     "sum(resolved_quickly) AS quickly FROM customers_at_risk "
                     "WHERE site = 'Hotel A' AND failure_type = 'waiting'")[0]
    r1 = query(db, "SELECT sentiment, content_hash, text FROM feedback_predictions "
                   "WHERE external_id = 'R1'")[0]
    # daily_trends rows are per failure type: an item naming two types counts in both.
    negative_b = query(db, "SELECT coalesce(sum(items), 0) AS n FROM daily_trends "
                           "WHERE site = 'Hotel B' AND sentiment = 'negative' "
                           "AND day = DATE '2026-05-20'")[0]["n"]
    return {
        "outcome": ticket["outcome"],
        "breached": query(db, "SELECT count(*) FILTER (WHERE breached) AS n "
                              "FROM complaint_sla")[0]["n"],
        "unresolved": risk["unresolved"], "quickly": risk["quickly"],
        "r1": r1, "negative_at_b": negative_b,
    }


def snapshot(db: Path) -> dict[str, list[dict[str, Any]]]:
    return {table: query(db, f"SELECT * FROM {table} ORDER BY ALL")
            for table in ("feedback", "complaints", "feedback_history", "complaints_history",
                          "predictions", "daily_trends", "complaint_facts", "customers_at_risk")}


def test_a_crm_reexport_and_a_text_edit_update_the_figures(tmp_path: Path,
                                                           repo_root: Path) -> None:
    config = make_project(tmp_path)
    db = tmp_path / "radar.duckdb"
    run(repo_root, config, db, tmp_path)
    first = last_run(db)
    assert (first["feedback_added"], first["complaints_added"], first["feedback_updated"],
            first["complaints_updated"]) == (4, 1, 0, 0)
    # The same words at two sites are two records, each classified (one model call).
    cards = query(db, "SELECT site, created_at FROM feedback WHERE external_id IS NULL "
                      "ORDER BY site")
    assert [c["site"] for c in cards] == ["Hotel A", "Hotel B"]
    assert query(db, "SELECT count(*) AS n FROM feedback_predictions "
                     "WHERE text = 'Great stay, friendly staff'")[0]["n"] == 2
    before = figures(db)
    assert before["outcome"] == "complained_unresolved" and before["breached"] == 1
    assert before["unresolved"] >= 1 and before["quickly"] == 0
    assert before["r1"]["sentiment"] == "positive" and before["negative_at_b"] == 0

    # The CRM re-exports the ticket as resolved; the review site re-exports R1, edited.
    write(tmp_path / "crm" / "tickets.csv", TICKET_COLUMNS,
          [[*TICKET[:4], "resolved", "2026-05-20 16:00", *TICKET[6:]]])
    write(tmp_path / "reviews" / "export.csv", REVIEW_COLUMNS, [
        ("R1", EDITED, "2026-05-20 09:00", "Hotel B", "2", "guest1"),
        ("R2", "We waited two hours to check in and nobody apologised", "2026-05-20 10:00",
         "Hotel A", "1", "guest2")])
    out = run(repo_root, config, db, tmp_path)
    second = last_run(db)
    assert (second["rows_read"], second["feedback_updated"], second["complaints_updated"],
            second["duplicates"], second["feedback_added"], second["complaints_added"]) == (
        3, 1, 1, 1, 0, 0)
    assert second["classified"] == 1  # the edited text, and nothing else
    assert "feedback updated" in out and "complaints updated" in out
    after = figures(db)
    assert after["outcome"] == "resolved_quickly" and after["breached"] == 0
    assert after["unresolved"] == before["unresolved"] - 1 and after["quickly"] == 1
    assert after["r1"]["text"] == EDITED and after["r1"]["sentiment"] == "negative"
    assert after["r1"]["content_hash"] != before["r1"]["content_hash"]
    assert after["negative_at_b"] >= 1  # one item, counted once per failure type it names
    history = query(db, "SELECT version, status, changed_fields FROM complaints_history "
                        "ORDER BY version")
    assert history == [{"version": 1, "status": "open", "changed_fields": []},
                       {"version": 2, "status": "resolved",
                        "changed_fields": ["status", "resolved_at"]}]
    texts = query(db, "SELECT h.text FROM feedback_history h JOIN feedback f USING (item_id) "
                      "WHERE f.external_id = 'R1' ORDER BY h.version")
    assert [t["text"] for t in texts] == [HAPPY, EDITED]
    # Analysts see it all in the published copy.
    read_copy = db.with_name("read.duckdb")
    assert query(read_copy, "SELECT count(*) AS n FROM complaints_history")[0]["n"] == 2
    assert query(read_copy, "SELECT count(*) AS n FROM complaint_sla WHERE breached")[0]["n"] == 0

    # The same exports again, under new names: nothing changes, the model reads nothing.
    state = snapshot(db)
    for folder, name in (("crm", "tickets.csv"), ("reviews", "export.csv"), ("cards", "cards.csv")):
        shutil.copy(tmp_path / folder / name, tmp_path / folder / f"again-{name}")
    run(repo_root, config, db, tmp_path)
    third = last_run(db)
    assert (third["rows_read"], third["duplicates"], third["feedback_updated"],
            third["complaints_updated"], third["classified"], third["predictions_reused"]) == (
        5, 5, 0, 0, 0, 0)
    assert snapshot(db) == state
