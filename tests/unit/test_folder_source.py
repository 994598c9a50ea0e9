"""Folder source: CSV, JSONL and Parquet files, bad rows reported, each file read once."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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


def test_a_file_that_fills_its_last_batch_ends_with_it(tmp_path: Path) -> None:
    """No empty batch (and commit) just to carry the fingerprint."""
    (tmp_path / "a.csv").write_text(
        "text,date,site\n" + "".join(f"r{i},2026-01-01,A\n" for i in range(4)), encoding="utf-8")
    (tmp_path / "b.csv").write_text("text,date,site\n", encoding="utf-8")
    batches = list(source(tmp_path).read({}))
    assert [len(b.rows) for b in batches] == [2, 2, 0]
    assert [sorted(b.state) for b in batches] == [[], ["file:a.csv"], ["file:b.csv"]]


# -- faults never block (issue 14) ---------------------------------------------------------
def gbk_config(folder: Path, **extra: object) -> FolderSource:
    return FolderSource(FolderSourceConfig(name="drop", kind="feedback", path=folder,
                                           mapping=MAPPING, **extra), batch_rows=100)


def test_a_corrupt_parquet_file_is_quarantined_once_and_then_skipped(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": ["x"] * 50, "date": ["2026-01-01"] * 50,
                             "site": ["A"] * 50}), tmp_path / "c.parquet")
    data = bytearray((tmp_path / "c.parquet").read_bytes())
    data[100:400] = b"\xab" * 300  # pages broken, footer intact: pyarrow raises OSError
    (tmp_path / "c.parquet").write_bytes(bytes(data))
    (tmp_path / "half.parquet").write_bytes(bytes(data[: len(data) // 2]))
    (tmp_path / "z.csv").write_text("text,date,site\nafter,2026-01-01,A\n", encoding="utf-8")
    state: dict[str, str | None] = {}
    rows = read(source(tmp_path), state)
    assert [(Path(r.location).name, r.error) for r in rows] == [
        ("c.parquet", "unreadable_file"), ("half.parquet", "unreadable_file"), ("z.csv", None)]
    assert "OSError" in rows[0].detail and "before any row" in rows[0].detail
    assert {"file:c.parquet", "file:half.parquet", "file:z.csv"} <= set(state)
    assert read(source(tmp_path), state) == []  # the next run does not trip on them again


def test_a_field_over_the_csv_module_limit_costs_one_row_not_the_file(tmp_path: Path) -> None:
    huge = "x" * 200_000  # csv's default field_size_limit is 131,072
    (tmp_path / "a.csv").write_text(
        f"text,date,site\nbefore,2026-01-01,A\n\"{huge}\",2026-01-02,A\nafter,2026-01-03,A\n",
        encoding="utf-8")
    rows = read(source(tmp_path), {})
    assert [len(r.data["text"]) for r in rows] == [6, 200_000, 5]


def test_an_unbalanced_quote_costs_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        'text,date,site\none,2026-01-01,A\n"two,2026-01-02,A\nthree,2026-01-03,A\n'
        '"four, quoted",2026-01-04,A\n', encoding="utf-8")
    rows = read(source(tmp_path), {})
    assert [(r.line, r.error, (r.data or {}).get("text")) for r in rows] == [
        (2, None, "one"), (3, "unbalanced_quote", None), (4, None, "three"),
        (5, None, "four, quoted")]
    assert rows[1].raw_text == '"two,2026-01-02,A'


def test_a_quote_that_never_closes_in_the_header_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('text,"date,site\none,2026-01-01,A\n', encoding="utf-8")
    assert [(r.line, r.error) for r in read(source(tmp_path), {})] == [(1, "unbalanced_quote")]


def test_mixed_line_endings_header_only_and_duplicate_headers(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"text,date,site\r\none,2026-01-01,A\rtwo,2026-01-02,A\n"
                                     b"three,2026-01-03,A\r\n")
    (tmp_path / "b.csv").write_text("text,date,site\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text("text,date,site,text\nx,2026-01-01,A,y\n", encoding="utf-8")
    state: dict[str, str | None] = {}
    rows = read(source(tmp_path), state)
    assert [(r.line, (r.data or {}).get("text")) for r in rows[:3]] == [
        (2, "one"), (3, "two"), (4, "three")]
    assert [(Path(r.location).name, r.error) for r in rows[3:]] == [
        ("c.csv", "duplicate_column")]
    assert "'text'" in rows[3].detail
    assert "file:b.csv" in state


def test_encodings_bom_utf16_and_gbk(tmp_path: Path) -> None:
    body = "text,date,site\n服务很差,2026-01-01,A\n"
    (tmp_path / "u16.csv").write_bytes(body.encode("utf-16"))  # with its BOM
    (tmp_path / "u8bom.csv").write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    (tmp_path / "gbk.csv").write_bytes(body.encode("gbk"))
    rows = {Path(r.location).name: r for r in read(source(tmp_path), {})}
    assert rows["u16.csv"].data == {"text": "服务很差", "date": "2026-01-01", "site": "A"}
    assert rows["u8bom.csv"].data == rows["u16.csv"].data
    assert rows["gbk.csv"].error == "bad_encoding" and "utf-8" in rows["gbk.csv"].detail
    declared = read(gbk_config(tmp_path, encoding="gbk", patterns=["gbk.csv"]), {})
    assert declared[0].data["text"] == "服务很差"


def test_gzipped_files_and_a_truncated_gzip(tmp_path: Path) -> None:
    import gzip

    lines = "".join(f"row {i} {'pad ' * 40},2026-01-01,A\n" for i in range(3000))
    packed = gzip.compress(("text,date,site\n" + lines).encode(), mtime=0)
    (tmp_path / "whole.csv.gz").write_bytes(packed)
    (tmp_path / "cut.csv.gz").write_bytes(packed[: len(packed) // 2])
    (tmp_path / "fine.jsonl.gz").write_bytes(gzip.compress(
        b'{"text": "j", "date": "2026-01-01", "site": "A"}\n', mtime=0))
    state: dict[str, str | None] = {}
    rows = read(gbk_config(tmp_path), state)
    by_file: dict[str, list] = {}
    for r in rows:
        by_file.setdefault(Path(r.location).name, []).append(r)
    assert len(by_file["whole.csv.gz"]) == 3000
    assert len(by_file["fine.jsonl.gz"]) == 1
    cut = by_file["cut.csv.gz"]
    assert 0 < len(cut) - 1 < 3000 and all(r.data for r in cut[:-1])
    assert cut[-1].error == "unreadable_file" and "EOFError" in cut[-1].detail
    assert {"file:whole.csv.gz", "file:cut.csv.gz", "file:fine.jsonl.gz"} <= set(state)


def test_an_unopenable_file_is_quarantined_and_read_again_once_it_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.csv"
    path.write_text("text,date,site\none,2026-01-01,A\n", encoding="utf-8")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object):  # as chmod 000 does for non-root
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: refuse(Path(p), *a, **k))
    state: dict[str, str | None] = {}
    rows = read(source(tmp_path), state)
    assert [r.error for r in rows] == ["unreadable_file"] and "Permission" in rows[0].detail
    assert state["file:a.csv"].startswith("unreadable:")
    assert read(source(tmp_path), state) == []
    monkeypatch.undo()
    path.write_text("text,date,site\none,2026-01-01,A\n", encoding="utf-8")
    assert [r.data["text"] for r in read(source(tmp_path), state)] == ["one"]
