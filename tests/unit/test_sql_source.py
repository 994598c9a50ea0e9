"""SQL source over a real SQLite database, read past a watermark."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mining.sources import SourceError, SqlSource, SqlSourceConfig

MAPPING = {"text": "body", "created_at": "created", "site": "site", "external_id": "id"}


def make_db(path: Path, rows: list[tuple]) -> None:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE IF NOT EXISTS tickets "
                    "(id TEXT, body TEXT, site TEXT, created TEXT, updated TEXT)")
        con.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?)", rows)


def read(src: SqlSource, state: dict[str, str | None]) -> list[str]:
    ids = []
    for batch in src.read(state):
        ids += [r.data["id"] for r in batch.rows]
        state.update(batch.state)
    return ids


def test_reads_table_incrementally(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    make_db(db, [(f"t{i}", f"text {i}", "Leeds", "2026-01-01", f"2026-01-0{i + 1} 09:00:00")
                 for i in range(3)])
    src = SqlSource(SqlSourceConfig(name="crm", kind="complaint", url=f"sqlite:///{db}",
                                    table="tickets", watermark_column="updated",
                                    mapping=MAPPING, fetch_rows=2))
    state: dict[str, str | None] = {}
    assert read(src, state) == ["t0", "t1", "t2"]
    assert state["watermark"] == "2026-01-03 09:00:00"
    make_db(db, [("t3", "new", "York", "2026-01-04", "2026-01-04 09:00:00")])
    assert read(src, state) == ["t2", "t3"]  # inclusive watermark; the store's upsert dedupes


def test_custom_query_with_since_parameter(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    make_db(db, [("a", "x", "Leeds", "2026-01-01", "2026-01-01"),
                 ("b", "y", "Hull", "2026-01-02", "2026-01-02")])
    src = SqlSource(SqlSourceConfig(
        name="crm", kind="complaint", url=f"sqlite:///{db}", watermark_column="updated",
        query="SELECT * FROM tickets WHERE site <> 'Hull' AND updated >= :since",
        mapping=MAPPING))
    assert read(src, {}) == ["a"]


def test_any_table_name_is_quoted_and_a_missing_table_is_a_source_error(tmp_path: Path) -> None:
    # Issue 14: a table named with a dash crashed the run. Names are quoted by the dialect, so
    # `crm-tickets` reads and a name that looks like SQL is only a name that does not exist.
    db = tmp_path / "crm.sqlite"
    with sqlite3.connect(db) as con:
        con.execute('CREATE TABLE "crm-tickets" (id TEXT, body TEXT, site TEXT, created TEXT, '
                    '"last-updated" TEXT)')
        con.execute("INSERT INTO \"crm-tickets\" VALUES ('a', 'x', 'Leeds', '2026-01-01', "
                    "'2026-01-01')")
    src = SqlSource(SqlSourceConfig(name="crm", kind="complaint", url=f"sqlite:///{db}",
                                    table="crm-tickets", watermark_column="last-updated",
                                    mapping=MAPPING))
    state: dict[str, str | None] = {}
    assert read(src, state) == ["a"] and state["watermark"] == "2026-01-01"
    odd = SqlSource(SqlSourceConfig(name="x", kind="complaint", url=f"sqlite:///{db}",
                                    table="t; DROP TABLE x", watermark_column="u",
                                    mapping=MAPPING))
    with pytest.raises(SourceError, match="no such table"):
        read(odd, {})
    missing = SqlSource(SqlSourceConfig(name="x", kind="complaint",
                                        url=f"sqlite:///{tmp_path}/e.db", table="missing",
                                        watermark_column="u", mapping=MAPPING))
    with pytest.raises(SourceError, match="no such table"):
        read(missing, {})
    unknown = SqlSource(SqlSourceConfig(name="x", kind="complaint", url="nosuchdb://host/db",
                                        table="t", watermark_column="u", mapping=MAPPING))
    with pytest.raises(SourceError, match="source 'x'"):
        read(unknown, {})


def test_a_locked_sqlite_file_is_a_source_error(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    make_db(db, [("a", "x", "Leeds", "2026-01-01", "2026-01-01")])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        src = SqlSource(SqlSourceConfig(name="crm", kind="complaint",
                                        url=f"sqlite:///{db}?timeout=0.2", table="tickets",
                                        watermark_column="updated", mapping=MAPPING))
        with pytest.raises(SourceError, match="database is locked"):
            read(src, {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
