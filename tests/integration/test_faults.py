"""The fault suite (issue 14): broken inputs never block a run, and no row is lost to kill -9.

`mining run` runs in real subprocesses with the real model on real DuckDB files, against a
folder of broken files made here, a real HTTP server on 127.0.0.1 and a real SQLite file.
Every row read is accounted for: rows_read = added + updated + quarantined + already stored.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.http_api import FeedbackApi, Reply, serve
from tests.support.project import last_run

pytestmark = pytest.mark.integration

HEADER = ["id", "text", "date", "site", "stars"]
DROP_MAPPING = "{text: text, created_at: date, site: site, external_id: id, rating: stars}"
TEXTS = ("the room was cold and nobody came", "friendly staff, quick check-in",
         "waited an hour for a table", "billing charged me twice")
TEN_MB = 10 * 1024 * 1024


# -- broken inputs ------------------------------------------------------------------------------
def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, newline: str = "\n") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([header, *rows])
    return out.getvalue().encode("utf-8")


def rows(prefix: str, n: int, day: str = "2026-11-02", site: str = "Leeds") -> list[list[str]]:
    return [[f"{prefix}-{i}", f"{TEXTS[i % len(TEXTS)]} ({prefix})", day, site, "3"]
            for i in range(n)]


def bulk_gzip(prefix: str, n: int) -> bytes:
    """n rows sharing four texts (the model reads four), gzipped deterministically."""
    body = [[f"{prefix}-{i}", TEXTS[i % len(TEXTS)], f"2026-11-{1 + i % 28:02d}",
             ("Leeds", "York")[i % 2], str(1 + i % 5)] for i in range(n)]
    return gzip.compress(csv_bytes(body), mtime=0)


def parquet_bytes(n: int) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": [f"pq-{i}" for i in range(n)], "text": ["fine"] * n,
                             "date": ["2026-11-01"] * n, "site": ["Leeds"] * n,
                             "stars": ["4"] * n}), sink)
    return sink.getvalue().to_pybytes()


Expected = dict[str, tuple[int | None, dict[str, int]]]  # file -> (stored or None, reasons)


def write_broken_inputs(folder: Path, *, small: bool = False) -> Expected:
    """At least 20 broken inputs and what each must become: rows stored (None: some, not all)
    and quarantine reasons. `small` leaves out the 10 MB field and the big gzip."""
    folder.mkdir(parents=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    expected: Expected = {}

    def put(name: str, data: bytes, stored: int | None, **reasons: int) -> None:
        (folder / name).write_bytes(data)
        expected[name] = (stored, reasons)

    put("good.csv", csv_bytes(rows("good", 3)), 3)
    if not small:
        whole = bulk_gzip("tz", 2000)
        put("truncated.csv.gz", whole[: len(whole) // 2], None, unreadable_file=1)
        big = "a ten megabyte review, with commas,\nand newlines " * (TEN_MB // 50)
        put("huge_field.csv", csv_bytes([["hf-1", "before the big one", "2026-11-01", "Leeds",
                                          "4"],
                                         ["hf-2", big, "2026-11-01", "Leeds", "4"],
                                         ["hf-3", "after the big one", "2026-11-01", "York",
                                          "4"]]), 2, oversize_text=1)
    else:
        small_gz = bulk_gzip("tzs", 300)
        put("truncated.csv.gz", small_gz[: len(small_gz) // 2], None, unreadable_file=1)
    put("not_gzip.csv.gz", csv_bytes(rows("ng", 2)), 0, unreadable_file=1)
    whole_pq = parquet_bytes(2000)
    put("truncated.parquet", whole_pq[: len(whole_pq) // 2], 0, unreadable_file=1)
    corrupt = bytearray(whole_pq)
    corrupt[100:400] = b"\xab" * 300  # pages broken, footer intact: pyarrow raises OSError
    put("corrupt.parquet", bytes(corrupt), 0, unreadable_file=1)
    gbk = "id,text,date,site,stars\ngbk-1,服务太慢了,2026-11-01,Leeds,2\n" \
          "gbk-2,plain ascii is fine,2026-11-01,Leeds,2\ngbk-3,房间很脏,2026-11-02,York,1\n"
    put("gbk.csv", gbk.encode("gbk"), 1, bad_encoding=2)
    utf16 = "id,text,date,site,stars\nu16-1,前台很友好,2026-11-01,York,5\n" \
            "u16-2,excel saved me as unicode text,2026-11-01,York,4\n"
    put("utf16.csv", utf16.encode("utf-16"), 2)
    put("bom.csv", b"\xef\xbb\xbf" + csv_bytes(rows("bom", 2)), 2)
    put("mixed_endings.csv",
        b"id,text,date,site,stars\r\nme-1,crlf line,2026-11-01,Leeds,3\n"
        b"me-2,lf line,2026-11-01,Leeds,3\rme-3,cr line,2026-11-01,Leeds,3\r\n", 3)
    put("unbalanced_quotes.csv",
        b'id,text,date,site,stars\nuq-1,fine,2026-11-01,Leeds,3\n'
        b'uq-2,"a quote that never closes,2026-11-01,Leeds,3\n'
        b'uq-3,fine again,2026-11-01,Leeds,3\n'
        b'uq-4,"quoted, properly",2026-11-01,York,3\n', 3, unbalanced_quote=1)
    put("header_only.csv", b"id,text,date,site,stars\n", 0)
    put("empty.csv", b"", 0)
    put("duplicate_headers.csv", csv_bytes([r + ["which text?"] for r in rows("dh", 2)],
                                           HEADER + ["text"]), 0, duplicate_column=2)
    put("wrong_width.csv", b"id,text,date,site,stars\nww-1,fine,2026-11-01,Leeds,3\n"
        b"ww-2,too,many,fields,2026-11-01,Leeds,3\n", 1, malformed_row=1)
    good_line = json.dumps({"id": "jl-1", "text": "json is fine", "date": "2026-11-01",
                            "site": "Leeds", "stars": 4})
    put("bad_line.jsonl", "\n".join([
        good_line, '{"id": "jl-2", "text": "cut sh', "[1, 2, 3]",
        json.dumps({"id": "jl-4", "text": "json again", "date": "2026-11-02", "site": "York",
                    "stars": None})]).encode() + b"\n", 2, unparseable_row=1, malformed_row=1)
    put("latin1.jsonl", json.dumps({"id": "l1-1", "text": "café froid", "date": "2026-11-01",
                                    "site": "Leeds"}, ensure_ascii=False).encode("latin-1")
        + b"\n", 0, bad_encoding=1)
    put("future.csv", csv_bytes([
        ["fu-1", "from the future", (now + timedelta(days=30)).isoformat(), "Leeds", "3"],
        ["fu-2", "a later time zone", (now + timedelta(hours=2)).isoformat(), "Leeds", "3"],
        ["fu-3", "year 2099", "2099-01-01", "Leeds", "3"]]), 1, future_date=2)
    put("before_1970.csv", csv_bytes([
        ["old-1", "moon landing", "1969-07-20T20:17:00", "Leeds", "3"],
        ["old-2", "epoch zero", "1970-01-01T00:00:00Z", "Leeds", "3"],
        ["old-3", "excel zero", "1899-12-30", "Leeds", "3"],
        ["old-4", "dotnet min", "0001-01-01", "Leeds", "3"],
        ["old-5", "a real date", "2026-11-01", "Leeds", "3"]]), 1, implausible_date=4)
    put("emoji_only.csv", csv_bytes([["em-1", "😡😡👎", "2026-11-01", "Leeds", "1"],
                                     ["em-2", "🙂", "2026-11-01", "York", "5"]]), 2)
    put("nul_byte.csv", b"id,text,date,site,stars\nnul-1,cold\x00 soup,2026-11-01,Leeds,2\n"
        b"\x00\x00\x00\n", 1, malformed_row=1)
    put("bad_ratings.csv", csv_bytes([
        ["br-1", "rated NaN", "2026-11-01", "Leeds", "NaN"],
        ["br-2", "rated inf", "2026-11-01", "Leeds", "inf"],
        ["br-3", "rated -inf", "2026-11-01", "Leeds", "-Infinity"],
        ["br-4", "rated five", "2026-11-01", "Leeds", "five"],
        ["br-5", "rated fine", "2026-11-01", "Leeds", "4.5"]]), 1, bad_rating=4)
    put("bad_values.csv", csv_bytes([
        ["bv-1", "no such site", "2026-11-01", "Narnia", "3"],
        ["bv-2", "no date", "", "Leeds", "3"],
        ["bv-3", "odd date", "yesterday", "Leeds", "3"],
        ["bv-4", "<p></p>", "2026-11-01", "Leeds", "3"],
        ["bv-5", "no site", "2026-11-01", "", "3"]]), 0,
        unknown_site=1, missing_date=1, unparseable_date=1, empty_text=1, missing_site=1)
    assert len(expected) - 1 >= 20  # good.csv aside
    return expected


# -- other sources ------------------------------------------------------------------------------
def api_items(n: int, site: str = "Leeds", day: str = "2026-11") -> list[dict[str, Any]]:
    return [{"id": f"api-{i}", "body": f"{TEXTS[i % len(TEXTS)]} (api {i})", "site": site,
             "created": f"{day}-{10 + i:02d}T09:00:00",
             "updated_at": f"2026-11-20T00:00:{i:02d}"} for i in range(n)]


def make_crm(path: Path, n: int, site: str = "Leeds", day: str = "2026-11") -> None:
    with sqlite3.connect(path) as con:
        con.execute('CREATE TABLE "crm-tickets" (ticket_id TEXT, body TEXT, site TEXT, '
                    'opened TEXT, status TEXT, "last-updated" TEXT)')
        con.executemany('INSERT INTO "crm-tickets" VALUES (?, ?, ?, ?, ?, ?)', [
            (f"crm-{i}", f"{TEXTS[(i + 1) % len(TEXTS)]} (ticket {i})", site,
             f"{day}-{10 + i:02d} 10:00:00", "open", f"2026-11-20 10:00:{i:02d}")
            for i in range(n)])


def http_source(url: str, retries: int = 3) -> str:
    return f"""
  - name: api
    kind: feedback
    type: http
    url: {url}
    page_size: 5
    retries: {retries}
    mapping: {{text: body, created_at: created, site: site, external_id: id}}"""


def sql_source(path: Path) -> str:
    return f"""
  - name: crm-sqlite
    kind: complaint
    type: sql
    url: sqlite:///{path}?timeout=1
    table: crm-tickets
    watermark_column: last-updated
    mapping: {{text: body, created_at: opened, site: site, external_id: ticket_id,
               status: status}}"""


def folder_source(name: str, path: Path, mapping: str = DROP_MAPPING,
                  kind: str = "feedback") -> str:
    return f"""
  - name: {name}
    kind: {kind}
    type: folder
    path: {path}
    mapping: {mapping}"""


# -- running mining ---------------------------------------------------------------------------
def run_env(tmp: Path) -> dict[str, str]:
    alerts = tmp / "alerts.yaml"
    if not alerts.exists():
        alerts.write_text(f"""
report_path: {tmp / 'report.html'}
channels:
  alerts-file: {{type: file, path: {tmp / 'alerts.jsonl'}}}
managers:
  duty: {{name: Duty manager, channels: [alerts-file]}}
default_manager: duty
""", encoding="utf-8")
    env = dict(os.environ)
    env.update(MINING_CLASSIFY_CHUNK_SIZE="16",
               MINING_INGEST_BATCH_ROWS="25", MINING_TORCH_THREADS="1",
               MINING_ALERTS_CONFIG=str(alerts), MINING_PSEUDONYM_KEY="fault-suite-key")
    return env


def command(config: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "mining.cli", "run", "--sources", str(config), "--db",
            str(db), "--read-copy", str(read_copy_of(db))]


def read_copy_of(db: Path) -> Path:
    return db.with_name(db.stem + "_read.duckdb")


def run(repo: Path, config: Path, db: Path, tmp: Path,
        expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command(config, db), cwd=repo, env=run_env(tmp), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == expect, done.stdout[-4000:] + done.stderr[-6000:]
    return done


def run_and_kill(repo: Path, config: Path, db: Path, tmp: Path,
                 trigger: Callable[[str], bool], late: str) -> str:
    """Start a run and SIGKILL its process group the moment a log line matches `trigger`.

    Fails if the run ends before the trigger, or if `late` (the next stage's line) was written
    before the kill landed: then the kill was not inside the stage under test.
    """
    process = subprocess.Popen(command(config, db), cwd=repo, env=run_env(tmp),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    seen: list[str] = []
    fired = threading.Event()

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not fired.is_set() and trigger(line):
                os.killpg(process.pid, signal.SIGKILL)
                fired.set()
            seen.append(line)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        process.wait(timeout=900)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    watcher.join(timeout=30)
    output = "".join(seen)
    assert fired.is_set(), "the trigger line never came:\n" + output[-4000:]
    assert process.returncode == -signal.SIGKILL, "the run ended by itself:\n" + output[-4000:]
    assert late not in output, f"the kill came too late ({late!r} was logged)"
    return output


def query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def accounted(run_row: dict[str, Any]) -> int:
    return sum(run_row[k] for k in ("feedback_added", "complaints_added", "feedback_updated",
                                    "complaints_updated", "quarantined", "duplicates"))


def per_file(db: Path, source: str) -> dict[str, tuple[int, dict[str, int]]]:
    stored = dict(query(db, "SELECT location, count(*) FROM (SELECT location FROM feedback "
                            "WHERE source = ? UNION ALL SELECT location FROM complaints "
                            "WHERE source = ?) GROUP BY ALL", [source, source]))
    reasons: dict[str, Counter[str]] = {}
    for location, reason, n in query(db, "SELECT location, reason, count(*) FROM quarantine "
                                         "WHERE source = ? GROUP BY ALL", [source]):
        reasons.setdefault(location, Counter())[reason] = n
    files = set(stored) | set(reasons)
    return {Path(f).name: (stored.get(f, 0), dict(reasons.get(f, {}))) for f in files}


def check_files(found: dict[str, tuple[int, dict[str, int]]], expected: Expected) -> None:
    for name, (stored, reasons) in expected.items():
        got_stored, got_reasons = found.pop(name, (0, {}))
        assert got_reasons == reasons, f"{name}: {got_reasons} != {reasons}"
        if stored is None:
            assert got_stored > 0, f"{name}: nothing before the break was stored"
        else:
            assert got_stored == stored, f"{name}: stored {got_stored}, expected {stored}"
    assert not found, f"rows from files not expected: {found}"


@pytest.fixture
def locked_sqlite(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    path = tmp_path / "crm.sqlite"
    make_crm(path, 4)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # readers get "database is locked"

    def release() -> None:
        if holder.in_transaction:
            holder.execute("ROLLBACK")

    yield path, release
    release()
    holder.close()


# -- the suite ----------------------------------------------------------------------------------
def test_broken_inputs_are_quarantined_and_never_block_the_next_run(
        tmp_path: Path, repo_root: Path,
        locked_sqlite: tuple[Path, Callable[[], None]]) -> None:
    drop = tmp_path / "drop"
    expected = write_broken_inputs(drop)
    crm, release_crm = locked_sqlite
    api = FeedbackApi(api_items(5))
    api.script = [Reply(500, b"internal error"), Reply(429, b"", {"Retry-After": "2"}),
                  Reply(200, b'{"items": [{"id": "api-0", "bo', {"Content-Type":
                                                                "application/json"})]
    config = tmp_path / "sources.yaml"
    db = tmp_path / "2026.duckdb"  # a database name the old publisher refused
    with serve(api) as url:
        good_sources = (folder_source("drop", drop) + http_source(url, retries=2)
                        + sql_source(crm))
        config.write_text("sites: [Leeds, York]\nsources:" + good_sources + """
  - name: typo-source
    kind: feedback
    type: folder
    pth: somewhere
    mapping: {text: text, created_at: date, site: site}
  - name: feedback-no-text
    kind: feedback
    type: folder
    path: somewhere
    require_text: false
    mapping: {text: text, created_at: date, site: site}
""", encoding="utf-8")
        first = run(repo_root, config, db, tmp_path, expect=3)

        # Failed sources are named, with the source and the key of each config error.
        failed_line = next(line for line in first.stdout.splitlines()
                           if line.startswith("Failed sources:"))
        assert set(failed_line.removeprefix("Failed sources:").strip().split(", ")) == {
            "api", "crm-sqlite", "typo-source", "feedback-no-text"}
        assert ("config error in source 'typo-source', key pth: Extra inputs are not "
                "permitted") in first.stdout
        assert ("config error in source 'feedback-no-text', key require_text: feedback always "
                "needs a text") in first.stdout
        assert "database is locked" in first.stdout
        assert "not JSON with a list under 'items'" in first.stdout
        assert "Traceback" not in first.stdout + first.stderr
        # 500, then 429 with Retry-After: 2 (honoured), then a body that is not JSON.
        assert len(api.requests) == 3
        assert api.times[2] - api.times[1] >= 2.0

        # Every row read is accounted for, and each broken file ends as it must.
        one = last_run(db)
        assert one["status"] == "succeeded_with_errors"
        assert one["rows_read"] == accounted(one) > 100
        assert one["duplicates"] == 0 and one["feedback_updated"] == 0
        assert (one["feedback_added"], one["complaints_added"], one["quarantined"]) == query(
            db, "SELECT (SELECT count(*) FROM feedback), (SELECT count(*) FROM complaints), "
                "(SELECT count(*) FROM quarantine)")[0]
        check_files(per_file(db, "drop"), expected)
        texts = dict(query(db, "SELECT external_id, text || '|' || language FROM feedback "
                               "WHERE external_id IN ('em-1', 'u16-1')"))
        assert texts == {"em-1": "😡😡👎|und", "u16-1": "前台很友好|zh"}
        assert query(db, "SELECT text FROM feedback WHERE external_id = 'nul-1'") == [
            ("cold soup",)]
        assert query(db, "SELECT count(*) FROM feedback WHERE external_id LIKE 'bom-%'")[0][0] == 2
        assert query(db, "SELECT max(length(raw)) FROM quarantine")[0][0] < 20_000
        # Published, though some sources failed (the database name is free).
        assert query(read_copy_of(db), "SELECT run_id FROM runs ORDER BY started_at DESC "
                                       "LIMIT 1")[0][0] == one["run_id"]

        # The next run: the config fixed, the lock gone, the server well. Nothing is re-read
        # from the folder and nothing fails on the same files again.
        config.write_text("sites: [Leeds, York]\nsources:" + good_sources + "\n",
                          encoding="utf-8")
        release_crm()
        second = run(repo_root, config, db, tmp_path, expect=0)
    two = last_run(db)
    assert two["status"] == "succeeded" and two["error"] is None
    assert "Failed sources" not in second.stdout
    assert (two["rows_read"], two["feedback_added"], two["complaints_added"],
            two["quarantined"]) == (9, 5, 4, 0)
    assert two["rows_read"] == accounted(two)
    assert query(db, "SELECT count(*) FROM complaints WHERE source = 'crm-sqlite'")[0][0] == 4
    assert query(db, "SELECT count(*) FROM predictions")[0][0] == (
        query(db, "SELECT (SELECT count(*) FROM feedback) + (SELECT count(*) FROM complaints)")
        [0][0])


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "feedback": query(db, "SELECT item_id, source, content_hash, site, created_at, rating, "
                              "text FROM feedback ORDER BY item_id"),
        "complaints": query(db, "SELECT item_id, source, status, text FROM complaints "
                                "ORDER BY item_id"),
        "history": query(db, "SELECT item_id, version FROM feedback_history UNION ALL "
                             "SELECT item_id, version FROM complaints_history ORDER BY ALL"),
        "quarantine": query(db, "SELECT quarantine_id, source, reason FROM quarantine "
                                "ORDER BY quarantine_id"),
        "predictions": query(db, "SELECT item_id, model_version, sentiment, failure_types "
                                 "FROM predictions ORDER BY item_id"),
        "daily_trends": query(db, "SELECT * FROM daily_trends ORDER BY ALL"),
        "alerts": query(db, "SELECT alert_id, kind, site, failure_type, negative FROM alerts "
                            "ORDER BY alert_id"),
        "source_state": query(db, "SELECT source, key, value FROM source_state ORDER BY ALL"),
    }


def classify_progress(line: str) -> bool:
    found = re.search(r"classifying with \S+: (\d+)/(\d+)", line)
    return bool(found) and int(found.group(1)) < int(found.group(2))


def test_no_row_is_lost_across_kill_9_at_five_points(tmp_path: Path, repo_root: Path) -> None:
    tweets, complaints, bulk = tmp_path / "tweets", tmp_path / "complaints", tmp_path / "bulk"
    for folder, name, n in ((tweets, "reviews/airline_tweets.csv", 150),
                            (complaints, "complaints/complaint_tickets.csv", 40)):
        folder.mkdir()
        with (repo_root / "data" / "samples" / name).open(encoding="utf-8", newline="") as f:
            sample = list(csv.reader(f))
        with (folder / Path(name).name).open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(sample[: n + 1])
    write_broken_inputs(tmp_path / "drop", small=True)
    bulk.mkdir()
    (bulk / "bulk.csv.gz").write_bytes(bulk_gzip("bulk", 1500))  # long to ingest, 4 texts
    crm = tmp_path / "crm.sqlite"
    make_crm(crm, 6, site="Delta", day="2015-02")
    api = FeedbackApi(api_items(12, site="Delta", day="2015-02"))
    with serve(api) as url:
        config = tmp_path / "sources.yaml"
        config.write_text(
            "sites: [American, Delta, Southwest, United, US Airways, Virgin America, Leeds, "
            "York]\nsources:"
            + folder_source("complaint_tickets", complaints, kind="complaint", mapping=(
                "{text: description, created_at: opened_at, site: airline, external_id: "
                "ticket_id, status: status, resolved_at: resolved_at, category: category}"))
            + sql_source(crm) + http_source(url)
            + folder_source("drop", tmp_path / "drop")
            + folder_source("airline_tweets", tweets, mapping=(
                "{text: text, created_at: tweet_created, created_at_formats: ['%m/%d/%Y %H:%M'],"
                " site: airline, external_id: tweet_id, channel_value: twitter}"))
            + folder_source("bulk", bulk) + "\n", encoding="utf-8")

        reference = tmp_path / "reference.duckdb"
        run(repo_root, config, reference, tmp_path)
        expected = snapshot(reference)
        stages = json.loads(last_run(reference)["stage_seconds"])
        bulk_rows = query(reference, "SELECT count(*) FROM feedback WHERE source = 'bulk'")[0][0]

        db = tmp_path / "radar-prod.duckdb"  # another name the old publisher refused
        # 1. ingest: after the first five sources, while the bulk file is being read.
        run_and_kill(repo_root, config, db, tmp_path,
                     lambda line: "source airline_tweets: read" in line,
                     "stage classify started")
        partial = query(db, "SELECT count(*) FROM feedback WHERE source = 'bulk'")[0][0]
        assert partial < bulk_rows, f"the kill came after ingest ({stages})"
        assert query(db, "SELECT count(*) FROM complaints")[0][0] > 0
        # 2. classify: after the first chunks are committed.
        run_and_kill(repo_root, config, db, tmp_path, classify_progress,
                     "stage aggregate started")
        predicted = query(db, "SELECT count(*) FROM predictions")[0][0]
        assert 0 < predicted < len(expected["predictions"]), stages
        # 3-5. aggregate, alerts, publish: as soon as each starts.
        for stage, after in (("aggregate", "stage alerts started"),
                             ("alerts", "stage publish started"),
                             ("publish", "read copy published")):
            run_and_kill(repo_root, config, db, tmp_path,
                         lambda line, s=stage: f"stage {s} started" in line, after)
            assert query(db, "SELECT count(*) FROM predictions")[0][0] == len(
                expected["predictions"])
        copy = read_copy_of(db)
        if copy.exists():  # the kill fell after the swap: the copy is whole, never half-written
            assert query(copy, "SELECT count(*) FROM runs")[0][0] > 0

        run(repo_root, config, db, tmp_path)
    assert snapshot(db) == expected
    statuses = [s for (s,) in query(db, "SELECT status FROM runs ORDER BY started_at")]
    assert statuses[:4] == ["abandoned"] * 4, statuses
    assert statuses[4] in ("abandoned", "succeeded") and statuses[5] == "succeeded", statuses
    final = last_run(db)
    assert final["rows_read"] == accounted(final)
    assert query(copy, "SELECT count(*) FROM feedback")[0][0] == len(expected["feedback"])
    assert not list(tmp_path.glob(".*.partial")), "a killed publisher's copy was left behind"
