"""The run lock: one run per database, released when the holder dies."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mining.runlock import RunInProgress, exclusive_run

HOLD = ("import sys, time; from pathlib import Path; from mining.runlock import exclusive_run\n"
        "with exclusive_run(Path(sys.argv[1]), 'holder-run'):\n"
        "    print('locked', flush=True); time.sleep(60)\n")


def test_second_run_is_refused_and_named(tmp_path: Path) -> None:
    db = tmp_path / "radar.duckdb"
    with (exclusive_run(db, "run-1"), pytest.raises(RunInProgress, match="run-1"),
          exclusive_run(db, "run-2")):
        pass
    with exclusive_run(db, "run-3"):  # free again
        pass


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "radar.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunInProgress, match="holder-run"), exclusive_run(db, "mine"):
            pass
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            with exclusive_run(db, "after"):
                break
        except RunInProgress:
            assert time.monotonic() < deadline
            time.sleep(0.1)
