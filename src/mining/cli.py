"""The `mining` command line."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Service-failure radar: mine reviews and complaints.", no_args_is_help=True)
console = Console()
# Errors go to stderr unwrapped: a long path must not split the message a script greps for.
error_console = Console(stderr=True, soft_wrap=True)

OFFLINE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "mining",
}


# Exit codes of the commands that touch the store (scripts and schedulers read them).
EXIT_FAILED = 1          # the run failed: nothing was published
EXIT_USAGE = 2           # bad input: a missing file, an unknown alert, a broken config
EXIT_SOURCES_FAILED = 3  # the run finished and published, but some sources could not be read
EXIT_BUSY = 75           # another run holds the database (EX_TEMPFAIL): try again later


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr and the exit code; never a traceback."""
    error_console.print(f"[red]error:[/red] {escape(' '.join(message.split()))}")
    raise typer.Exit(code)


def describe(exc: BaseException) -> str:
    """An exception as one line: its type and message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


@contextmanager
def run_lock(db: Path, command: str, hint: str = "") -> Iterator[None]:
    """Hold the database's run lock for a command, or fail with one line naming the holder.

    Every command that opens the working database takes it: DuckDB gives a file to one writer
    and refuses every other opener, so a command holding the file would make a starting run
    fail, and a run would make the command fail.
    """
    from mining.runlock import RunInProgress, exclusive_run

    try:
        with exclusive_run(db, f"mining {command}"):
            yield
    except RunInProgress as exc:
        fail(f"{db} is in use by {exc.holder}; try again when it has finished{hint}", EXIT_BUSY)


def prepare_environment() -> None:
    """Offline model loading and no telemetry, unless the caller chose otherwise."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)


def project_root() -> Path:
    """The checkout holding `flows/`: the current directory or the one this package lives in."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "flows" / "pipeline.py").is_file():
            return candidate
    raise typer.BadParameter(
        "cannot find flows/pipeline.py: run `mining` from the project checkout"
    )


def load_flow(module: str, name: str) -> Any:
    root = str(project_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    return getattr(importlib.import_module(f"flows.{module}"), name)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    prepare_environment()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def run(
    sources: Annotated[Path | None, typer.Option(help="Sources config (YAML).")] = None,
    db: Annotated[Path | None, typer.Option(help="DuckDB file the pipeline writes.")] = None,
    read_copy: Annotated[Path | None, typer.Option(help="Copy published for analysts.")] = None,
    model: Annotated[Path | None, typer.Option(help="Model dir; default: newest good.")] = None,
    dask_address: Annotated[str | None, typer.Option(
        help="Classify on this Dask scheduler (tcp://host:8786).")] = None,
    dask_workers: Annotated[int | None, typer.Option(
        help="Classify on a local Dask cluster of N worker processes.")] = None,
) -> None:
    """Run the pipeline: ingest, normalise, classify, store, aggregate, alert; print a summary.

    Exit status: 0 done; 1 the run failed; 2 the sources config cannot be used; 3 done and
    published, but some sources could not be read (the summary names them). A run skipped
    because another holds the database exits 0.
    """
    from mining.params import RunParameters
    from mining.sources.config import SourcesConfigInvalid, SourcesFile

    params = RunParameters.from_settings(sources_config=sources, db_path=db,
                                         read_copy_path=read_copy, model_path=model,
                                         dask_address=dask_address, dask_workers=dask_workers)
    try:
        # A file no source can be read from stops here; one source's error is the run's to
        # report, and the other sources still run.
        SourcesFile.load_each(params.sources_config)
    except (FileNotFoundError, SourcesConfigInvalid) as exc:
        fail(str(exc))
    pipeline = load_flow("pipeline", "pipeline")
    try:
        result = pipeline(params)
    except Exception as exc:  # noqa: BLE001 - the run recorded it; the operator gets one line
        fail(f"the run failed: {describe(exc)}", EXIT_FAILED)
    if result["status"] == "skipped":
        console.print(f"[yellow]Run skipped:[/yellow] {escape(result['message'])}")
        return
    print_summary(result)
    if result["status"] == "failed":
        raise typer.Exit(EXIT_FAILED)
    if result.get("failed_sources"):
        raise typer.Exit(EXIT_SOURCES_FAILED)


def print_summary(result: dict[str, Any]) -> None:
    from mining.store.db import run_report

    counts = result["counts"]
    failed = result.get("failed_sources") or []
    status = result["status"] + (f" ({len(failed)} failed sources)" if failed else "")
    table = Table(title=f"Run {result['run_id']} — {status}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    # rows read = added + updated + already stored + quarantined
    labels = {"duplicates": "already stored"}
    for key in ("rows_read", "feedback_added", "complaints_added", "feedback_updated",
                "complaints_updated", "duplicates", "quarantined", "classified",
                "predictions_reused", "alerts_new", "alerts_sent", "alert_deliveries_pending"):
        table.add_row(labels.get(key, key.replace("_", " ")), str(counts.get(key, 0)))
    for stage, seconds in result["stage_seconds"].items():
        table.add_row(f"{stage} seconds", f"{seconds:.1f}")
    table.add_row("model", str(result["model_version"]))
    console.print(table)

    reasons, top = run_report(result["read_copy_path"], result["run_id"])
    if reasons:
        q = Table(title="Quarantined this run")
        for col in ("source", "reason", "rows"):
            q.add_column(col)
        for row in reasons:
            q.add_row(*map(str, row))
        console.print(q)
    t = Table(title="Top negative failure types by site (all stored feedback)")
    for col in ("site", "failure type", "root cause", "negative items"):
        t.add_column(col)
    for row in top:
        t.add_row(*map(str, row))
    console.print(t)
    # One line each, unwrapped, so a script can grep them.
    for error in result["errors"]:
        console.print(f"[red]source error:[/red] {escape(error)}", soft_wrap=True)
    if failed:
        console.print(f"[red]Failed sources:[/red] {escape(', '.join(failed))}", soft_wrap=True)
    console.print(f"Store: {result['db_path']}  |  analysts' read-only copy: "
                  f"{result['read_copy_path']}")


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    since: Annotated[datetime | None, typer.Option(help="First day shown (YYYY-MM-DD).",
                                                   formats=["%Y-%m-%d"])] = None,
    site: Annotated[str | None, typer.Option(help="One site only.")] = None,
    db: Annotated[Path | None, typer.Option(help="Database; default: the read copy.")] = None,
) -> None:
    """Write one self-contained HTML report: trends, iceberg, silent items, drivers, SLA, risk.

    It reads the analysts' copy; with --db it reads that database under the run lock.
    """
    import duckdb

    from mining.report import write_report
    from mining.settings import Settings

    def write(source: Path) -> Path:
        try:
            return write_report(source, out, since=since.date() if since else None, site=site)
        except FileNotFoundError as exc:
            fail(str(exc))
        except duckdb.Error as exc:
            fail(f"cannot read {source}: {describe(exc)}")

    if db is None or not db.is_file():
        path = write(db or Settings().read_copy_path)  # a missing file says what to do
    else:
        with run_lock(db, "report", "; without --db the report reads the analysts' copy"):
            path = write(db)
    console.print(f"Report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def serve(
    cron: Annotated[str, typer.Option(help="Pipeline schedule (cron, UTC).")] = "0 2 * * *",
    interval: Annotated[int | None, typer.Option(
        help="Run the pipeline every N seconds instead of the cron schedule.")] = None,
    alert_cron: Annotated[str, typer.Option(help="Alert-check schedule (cron, UTC).")] = (
        "*/15 * * * *"),
    alert_interval: Annotated[int | None, typer.Option(
        help="Check alerts every N seconds instead of the cron schedule.")] = None,
) -> None:
    """Serve the deployments (nightly pipeline, alert check, on-demand training) from this
    process, with no work pool. Needs a Prefect server: see the README's production section."""
    if not os.environ.get("PREFECT_API_URL"):
        error_console.print(
            "[red]error:[/red] schedules need a Prefect server. Start one with\n"
            "  prefect server start --host 127.0.0.1 --port 4200\n"
            "and point this shell at it:\n"
            "  export PREFECT_API_URL=http://127.0.0.1:4200/api")
        raise typer.Exit(2)
    from prefect import serve as prefect_serve

    pipeline = load_flow("pipeline", "pipeline")
    alert_check = load_flow("alert_check", "alert_check")
    train = load_flow("train", "train")
    schedule = {"interval": interval} if interval else {"cron": cron}
    alert_schedule = {"interval": alert_interval} if alert_interval else {"cron": alert_cron}
    console.print(f"Serving radar deployments: pipeline {schedule}, alert check "
                  f"{alert_schedule}, train on demand. Ctrl-C stops.")
    prefect_serve(
        pipeline.to_deployment(name="nightly", concurrency_limit=1, **schedule),
        alert_check.to_deployment(name="alert-check", concurrency_limit=1, **alert_schedule),
        train.to_deployment(name="train"),
    )


T = TypeVar("T")


def read_store(db: Path | None, command: str, read: Callable[[Path], T]) -> T:
    """`read` on `db` under its run lock; without `db`, on the working store (it shows
    acknowledgements and imports at once), or, while a run holds it, on the copy the last run
    published. A missing copy raises FileNotFoundError for the caller to report."""
    import duckdb

    from mining.runlock import RunInProgress, exclusive_run
    from mining.settings import Settings

    if db is not None:
        if not db.is_file():
            fail(f"no database at {db}")
        with run_lock(db, command):
            return read(db)
    settings = Settings()
    try:
        if settings.db_path.is_file():
            with exclusive_run(settings.db_path, f"mining {command}"):
                return read(settings.db_path)
    except (RunInProgress, duckdb.IOException):
        pass
    return read(settings.read_copy_path)


alerts_app = typer.Typer(help="Spike alerts: list and acknowledge.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(
    unacked: Annotated[bool, typer.Option("--unacked", help="Only unacknowledged.")] = False,
    db: Annotated[Path | None, typer.Option(help="Database; default: the read copy.")] = None,
) -> None:
    """Alerts, newest first, with how their deliveries stand."""
    import duckdb

    from mining.store.db import read_named_queries

    def read(source: Path) -> Any:
        return read_named_queries(source, ["alerts_list"], [unacked])["alerts_list"]

    try:
        frame = read_store(db, "alerts list", read)
    except FileNotFoundError as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(f"cannot read the alerts: {describe(exc)}")
    table = Table(title=f"Alerts ({len(frame)})")
    for column in frame.columns:
        table.add_column(column)
    for row in frame.itertuples(index=False):
        table.add_row(*["" if v is None or v != v else str(v) for v in row])
    console.print(table)


@alerts_app.command("ack")
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="The alert's id (see `mining alerts list`).")],
    who: Annotated[str, typer.Option(help="Who acknowledges.")] = "cli",
    db: Annotated[Path | None, typer.Option(help="The pipeline's database.")] = None,
) -> None:
    """Acknowledge an alert so it is not escalated. Writes the working store."""
    import duckdb

    from mining.alerts.service import acknowledge
    from mining.settings import Settings
    from mining.store.db import Store

    path = db or Settings().db_path
    if not Path(path).is_file():
        fail(f"no database at {path}")
    with run_lock(path, "alerts ack", "; the acknowledgement was not recorded"):
        try:
            with Store.open(path) as store:
                found = acknowledge(store, alert_id, who)
        except duckdb.Error as exc:
            fail(f"cannot record the acknowledgement in {path}: {describe(exc)}")
    if not found:
        fail(f"no alert {alert_id!r}")
    console.print(f"Acknowledged {escape(alert_id)}")


def _register_model_commands() -> None:
    from mining.classify.commands import register

    register(app)
    importlib.import_module("mining.labels_commands").register(app)
    importlib.import_module("mining.types_commands").register(app)
    importlib.import_module("mining.themes_commands").register(app)


_register_model_commands()


if __name__ == "__main__":
    app()
