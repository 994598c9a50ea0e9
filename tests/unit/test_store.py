"""The DuckDB store: migrations, bulk upserts, source state, runs and the published copy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from mining.store.db import Store, migrations, open_read_only, utcnow


def test_migrations_are_numbered_and_applied_once(tmp_path: Path) -> None:
    numbers = [v for v, _, _ in migrations()]
    assert numbers == sorted(numbers) and numbers[0] == 1
    with Store.open(tmp_path / "s.duckdb") as store:
        assert store.schema_version() == numbers[-1]
        for table in ("feedback", "complaints", "predictions", "quarantine", "source_state",
                      "runs", "daily_trends"):
            assert store.count(table) == 0
    with Store.open(tmp_path / "s.duckdb") as store:
        assert store.apply_migrations() == []
        assert store.count("schema_version") == len(numbers)


def test_insert_arrow_skips_existing_keys() -> None:
    store = Store.in_memory()
    rows = pa.table({"source": ["s", "s"], "key": ["a", "b"], "value": ["1", "2"],
                     "run_id": ["r", "r"], "updated_at": [utcnow(), utcnow()]})
    assert store.insert_arrow("source_state", rows) == 2
    assert store.insert_arrow("source_state", rows) == 0
    assert store.count("source_state") == 2


def test_insert_arrow_refuses_odd_table_names() -> None:
    store = Store.in_memory()
    with pytest.raises(ValueError, match="identifier"):
        store.insert_arrow("runs; DROP TABLE runs", pa.table({"a": [1]}))


def test_transaction_rolls_back_on_error() -> None:
    store = Store.in_memory()
    with pytest.raises(RuntimeError), store.transaction():
        store.set_source_state("s", {"k": "v"}, "r")
        raise RuntimeError("boom")
    assert store.source_state("s") == {}


def test_runs_record_counts_and_stale_runs_are_abandoned() -> None:
    store = Store.in_memory()
    store.start_run("r1", None)
    assert store.abandon_stale_runs() == 1
    store.start_run("r2", None)
    store.finish_run("r2", "succeeded", {"rows_read": 5, "quarantined": 1}, "{}", "m1")
    row = store.execute("SELECT status, rows_read, quarantined, model_version FROM runs "
                        "WHERE run_id = 'r2'").fetchone()
    assert row == ("succeeded", 5, 1, "m1")
    with pytest.raises(ValueError, match="unknown run counters"):
        store.finish_run("r2", "succeeded", {"bogus": 1}, "{}")


def test_published_copy_opens_read_only_in_another_process_while_writer_is_open(
        tmp_path: Path) -> None:
    store = Store.open(tmp_path / "work.duckdb")
    store.set_source_state("s", {"k": "v"}, "r")
    copy = store.publish_read_copy(tmp_path / "read.duckdb")
    code = ("import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute('select value from source_state').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(copy)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "v"
    # The working file itself is locked by the writer: that is why the copy exists.
    fail = subprocess.run([sys.executable, "-c", code, str(tmp_path / "work.duckdb")],
                          capture_output=True, text=True)
    assert fail.returncode != 0 and "lock" in fail.stderr.lower()
    store.close()
    reader = open_read_only(copy)
    assert reader.execute("SELECT count(*) FROM schema_version").fetchone()[0] >= 3


@pytest.mark.parametrize("name", ["radar-prod", "2026", "radar prod's \"copy\"",
                                  "radar_read_copy"])
def test_database_file_names_are_free(tmp_path: Path, name: str) -> None:
    # Issue 14: `radar-prod.duckdb` and `2026.duckdb` failed a name check after the run was
    # marked succeeded, and no read copy was ever published.
    target = tmp_path / f"{name}_read.duckdb"
    stale = tmp_path / f".{target.name}.99999.partial"
    stale.write_bytes(b"left by a killed publisher")
    with Store.open(tmp_path / f"{name}.duckdb") as store:
        store.set_source_state("s", {"k": "v"}, "r")
        store.publish_read_copy(target)
    reader = open_read_only(target)
    try:
        assert reader.execute("SELECT value FROM source_state").fetchone()[0] == "v"
    finally:
        reader.close()
    assert not stale.exists()
