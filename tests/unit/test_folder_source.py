"""Folder source: CSV, JSONL and Parquet files, bad rows reported, each file read once."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mining.sources import FolderSource
from mining.sources.config import FolderSourceConfig

MAPPING = {"text": "text", "created_at": "date", "site": "site"}


def source(folder: Path) -> FolderSource:
    return FolderSource(FolderSourceConfig(name="drop", kind="feedback", path=folder,
                                           mapping=MAPPING), batch_rows=2)


def read(src: FolderSource, state: dict[str, str | None]) -> list:
    rows = []
    for batch in src.read(state):
        rows += batch.rows
        state.update(batch.state)
    return rows


def test_csv_rows_with_bad_encoding_and_wrong_width_are_flagged(tmp_path: Path) -> None:
    content = (
        b"text,date,site\n"
        b"good one,2026-01-01,Leeds\n"
        b"\"multi\nline, quoted\",2026-01-02,York\n"
    ) + "caf\xe9 latin-1,2026-01-03,Leeds\n".encode("latin-1") + b"too,many,fields,here\n"
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbf" + content)
    rows = read(source(tmp_path), {})
    assert [r.data["text"] for r in rows[:2]] == ["good one", "multi\nline, quoted"]
    assert rows[0].line == 2 and rows[1].line == 3
    assert rows[2].error == "bad_encoding" and rows[2].line == 5
    assert "\\xe9" in rows[2].raw_text
    assert rows[3].error == "malformed_row" and "expected 3 fields, found 4" in rows[3].detail


def test_jsonl_bad_lines_are_flagged_with_line_numbers(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "fine", "date": "2026-01-01", "site": "A"}), "{not json",
             "[1, 2]", "", json.dumps({"text": "also fine", "date": "2026-01-02", "site": "B"})]
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = read(source(tmp_path), {})
    assert [(r.line, r.error) for r in rows] == [
        (1, None), (2, "unparseable_row"), (3, "malformed_row"), (5, None)]


def test_parquet_and_corrupt_parquet(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": ["x", "y"], "date": ["2026-01-01", "2026-01-02"],
                             "site": ["A", "B"]}), tmp_path / "c.parquet")
    (tmp_path / "d.parquet").write_bytes(b"PAR1 definitely not parquet")
    rows = read(source(tmp_path), {})
    assert [r.data["text"] for r in rows if r.data] == ["x", "y"]
    assert [r.error for r in rows if r.error] == ["unreadable_file"]


def test_each_file_is_read_once_and_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("text,date,site\none,2026-01-01,A\n", encoding="utf-8")
    src = source(tmp_path)
    state: dict[str, str | None] = {}
    assert len(read(src, state)) == 1
    assert read(src, state) == []
    path.write_text("text,date,site\none,2026-01-01,A\ntwo,2026-01-02,A\n", encoding="utf-8")
    assert [r.data["text"] for r in read(src, state)] == ["one", "two"]
    (tmp_path / "b.csv").write_text("text,date,site\nthree,2026-01-03,A\n", encoding="utf-8")
    assert [r.data["text"] for r in read(src, state)] == ["three"]


def test_state_is_committed_only_with_the_last_batch_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "text,date,site\n" + "".join(f"r{i},2026-01-01,A\n" for i in range(5)), encoding="utf-8")
    batches = list(source(tmp_path).read({}))
    assert [len(b.rows) for b in batches] == [2, 2, 1]
    assert [bool(b.state) for b in batches] == [False, False, True]
