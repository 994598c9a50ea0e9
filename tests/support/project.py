"""A small project on disk: a slice of the bundled sample plus a file of bad rows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb

SITES = "[American, Delta, Southwest, United, US Airways, Virgin America]"


def make_project(root: Path, repo: Path, n_reviews: int, n_complaints: int) -> Path:
    """A sources config over a slice of the bundled sample plus a file of bad rows."""
    reviews = root / "reviews"
    complaints = root / "complaints"
    reviews.mkdir(parents=True)
    complaints.mkdir()
    for name, folder, n in (("reviews/airline_tweets.csv", reviews, n_reviews),
                            ("complaints/complaint_tickets.csv", complaints, n_complaints)):
        with (repo / "data" / "samples" / name).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        with (folder / Path(name).name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(rows[: n + 1])
    bad = (
        "tweet_id,airline_sentiment,negativereason,airline,text,tweet_created\n"
        "b1,negative,,Delta,,2/24/2015 11:35\n"
        "b2,negative,,Delta,lost my bag,not a date\n"
        "b3,negative,,Narnia Air,rude crew,2/24/2015 11:35\n"
        f"b4,negative,,Delta,{'very long ' * 3000},2/24/2015 11:35\n"
        "b5,negative,,Delta,mail me at jane.doe@example.com or 555-867-5309,2/24/2015 11:40\n"
    ).encode() + "b6,negative,,Delta,caf\xe9 was cold,2/24/2015 11:35\n".encode("latin-1")
    (reviews / "bad_rows.csv").write_bytes(bad)
    config = root / "sources.yaml"
    config.write_text(f"""
sites: {SITES}
sources:
  - name: airline_tweets
    kind: feedback
    type: folder
    path: {reviews}
    mapping: {{text: text, created_at: tweet_created, created_at_formats: ["%m/%d/%Y %H:%M"],
               site: airline, external_id: tweet_id, channel_value: twitter}}
  - name: complaint_tickets
    kind: complaint
    type: folder
    path: {complaints}
    mapping: {{text: description, created_at: opened_at, site: airline, external_id: ticket_id,
               status: status, resolved_at: resolved_at, category: category}}
""", encoding="utf-8")
    return config


def last_run(db: Path) -> dict[str, Any]:
    """The newest row of `runs` in a store, as a dict."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1")
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))
    finally:
        con.close()


def read_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """All rows of a query on a store, opened read-only and closed again."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
