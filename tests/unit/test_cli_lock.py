"""Commands that touch the working database take the run lock or read the read copy, and answer
with one clear line, never a traceback (issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mining import cli
from mining.cli import EXIT_BUSY, app
from mining.runlock import exclusive_run
from mining.store.db import Store

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "radar-prod.duckdb"
    with Store.open(db) as s:
        s.publish_read_copy(tmp_path / "radar-prod_read.duckdb")
    monkeypatch.setenv("MINING_DB_PATH", str(db))
    monkeypatch.setenv("MINING_READ_COPY_PATH", str(tmp_path / "radar-prod_read.duckdb"))
    return db


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.output + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_alerts_ack_during_a_run_is_refused_in_one_line(store: Path) -> None:
    with exclusive_run(store, "run 20261201T020000-abcd"):
        result = runner.invoke(app, ["alerts", "ack", "a-1"])
    assert result.exit_code == EXIT_BUSY
    line = one_line_error(result)
    assert "in use by run 20261201T020000-abcd" in line and "not recorded" in line
    after = runner.invoke(app, ["alerts", "ack", "a-1"])  # free again: the alert is unknown
    assert after.exit_code == 2 and "no alert 'a-1'" in one_line_error(after)


def test_report_with_db_takes_the_run_lock(store: Path, tmp_path: Path) -> None:
    with exclusive_run(store, "run r-1"):
        result = runner.invoke(app, ["report", "--db", str(store),
                                     "--out", str(tmp_path / "r.html")])
    assert result.exit_code == EXIT_BUSY
    assert "without --db the report reads the analysts' copy" in one_line_error(result)
    assert not (tmp_path / "r.html").exists()


def test_alerts_list_reads_the_copy_while_a_run_holds_the_store(store: Path) -> None:
    with exclusive_run(store, "run r-1"):
        result = runner.invoke(app, ["alerts", "list"])
        locked = runner.invoke(app, ["alerts", "list", "--db", str(store)])
    assert result.exit_code == 0 and "Alerts (0)" in result.output
    assert locked.exit_code == EXIT_BUSY and "in use by run r-1" in one_line_error(locked)


def test_alerts_list_shows_alerts_newest_first_then_ack_records(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 300)  # whole ids in the table
    with Store.open(store) as s:
        for alert_id, day in (("a-old", 1), ("a-new", 2)):
            s.execute(
                "INSERT INTO alerts (alert_id, episode_id, kind, site, failure_type, root_cause, "
                "window_start, window_end, negative, total, expected, baseline_share, p_value, "
                "examples, report, manager, run_id, created_at) VALUES (?, 'e', 'opened', "
                "'Leeds', 'waiting', 'process_system', ?, ?, 9, 20, 2.0, 0.1, 0.001, [], "
                "'r.html', 'duty', 'run', ?)",
                [alert_id, f"2026-11-0{day}", f"2026-11-0{day + 1}", "2026-11-03"])
    listed = runner.invoke(app, ["alerts", "list"])
    assert listed.exit_code == 0, listed.stderr
    assert listed.output.index("a-new") < listed.output.index("a-old")
    acked = runner.invoke(app, ["alerts", "ack", "a-old", "--who", "sam"])
    assert acked.exit_code == 0 and "Acknowledged a-old" in acked.output
    unacked = runner.invoke(app, ["alerts", "list", "--unacked"])
    assert "a-new" in unacked.output and "a-old" not in unacked.output


def test_ack_on_a_store_another_program_holds_is_one_line(store: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(60)", str(store)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = runner.invoke(app, ["alerts", "ack", "a-1"])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2
    assert "cannot record the acknowledgement" in one_line_error(result)


def test_run_with_a_broken_sources_file_is_one_line(tmp_path: Path, store: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources: [\n", encoding="utf-8")
    result = runner.invoke(app, ["run", "--sources", str(config)])
    assert result.exit_code == 2 and "is not valid YAML" in one_line_error(result)
