"""Unattended runs: a real Prefect server, `mining serve` on a short interval, and the run lock."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from mining.runlock import exclusive_run
from tests.support.project import make_project

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[str], grace: float = 30) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def succeeded_runs(read_copy: Path) -> int:
    if not read_copy.exists():
        return 0
    con = duckdb.connect(str(read_copy), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'"
                               ).fetchall()[0][0])
    finally:
        con.close()


def test_served_schedule_runs_the_pipeline_unattended(tmp_path: Path, repo_root: Path) -> None:
    config = make_project(tmp_path, repo_root, n_reviews=60, n_complaints=5)
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_RUNNER_POLL_FREQUENCY": "2",
           "MINING_DB_PATH": str(tmp_path / "radar.duckdb"),
           "MINING_READ_COPY_PATH": str(tmp_path / "radar_read.duckdb"),
           "MINING_SOURCES_CONFIG": str(config),
           "MINING_ALERTS_CONFIG": str(repo_root / "config" / "alerts.yaml")}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
         str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    serve = None
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prefect server did not become healthy"
            time.sleep(1)

        serve_log = (tmp_path / "serve.log").open("w")
        serve = subprocess.Popen(
            [sys.executable, "-m", "mining.cli", "serve", "--interval", "15",
             "--alert-interval", "3600"], cwd=repo_root, env=env, stdout=serve_log,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        read_copy = tmp_path / "radar_read.duckdb"
        deadline = time.monotonic() + 420
        while succeeded_runs(read_copy) < 2:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(2)
    finally:
        if serve is not None:
            stop(serve)  # the serving process first, then the server
        stop(server)
    con = duckdb.connect(str(tmp_path / "radar_read.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT rows_read, classified FROM runs WHERE status = 'succeeded' "
                           "ORDER BY started_at").fetchall()
    finally:
        con.close()
    assert runs[0][0] == 60 + 5 + 6 and runs[0][1] > 0
    assert runs[1] == (0, 0)  # the scheduled rerun found nothing new
    assert server.poll() is not None and serve is not None and serve.poll() is not None


def test_a_second_run_on_the_same_database_is_skipped(tmp_path: Path, repo_root: Path) -> None:
    config = make_project(tmp_path, repo_root, n_reviews=10, n_complaints=2)
    db = tmp_path / "radar.duckdb"
    with exclusive_run(db, "run held-by-test"):
        done = subprocess.run(
            [sys.executable, "-m", "mining.cli", "run", "--sources", str(config), "--db", str(db),
             "--read-copy", str(tmp_path / "read.duckdb")], cwd=repo_root,
            env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")},
            capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Run skipped" in done.stdout and "held-by-test" in done.stdout
    assert not db.exists()  # it never touched the database


def predictions(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT item_id, model_version, sentiment, sentiment_score, "
                           "failure_types, failure_scores, responses, response_scores "
                           "FROM predictions ORDER BY item_id").fetchall()
    finally:
        con.close()


def test_dask_local_cluster_gives_the_single_process_results(tmp_path: Path,
                                                            repo_root: Path) -> None:
    config = make_project(tmp_path, repo_root, n_reviews=300, n_complaints=20)
    results = {}
    for name, extra in (("single", []), ("dask", ["--dask-workers", "2"])):
        db = tmp_path / f"{name}.duckdb"
        done = subprocess.run(
            [sys.executable, "-m", "mining.cli", "run", "--sources", str(config), "--db",
             str(db), "--read-copy", str(tmp_path / f"{name}_read.duckdb"), *extra],
            cwd=repo_root, capture_output=True, text=True, timeout=900,
            env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
                 "MINING_CLASSIFY_SHARD_SIZE": "64"})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        results[name] = predictions(db)
    assert len(results["single"]) > 300
    assert results["dask"] == results["single"]


def test_the_alert_check_is_recorded_in_runs(tmp_path: Path, repo_root: Path) -> None:
    db = tmp_path / "radar.duckdb"
    code = ("from flows.alert_check import alert_check\n"
            "from mining.params import RunParameters\n"
            "print('STATUS', alert_check(RunParameters.from_settings())['status'])\n")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "MINING_DB_PATH": str(db), "MINING_READ_COPY_PATH": str(tmp_path / "read.duckdb"),
           "MINING_ALERTS_CONFIG": str(repo_root / "config" / "alerts.yaml"),
           "PYTHONPATH": str(repo_root)}
    done = subprocess.run([sys.executable, "-c", code], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "STATUS succeeded" in done.stdout
    con = duckdb.connect(str(tmp_path / "read.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT run_id, status, alerts_new FROM runs").fetchall()
    finally:
        con.close()
    assert len(runs) == 1 and runs[0][0].startswith("alerts-") and runs[0][1:] == ("succeeded", 0)
