"""Parent flow: ingest → classify → aggregate → themes → explain → alerts → publish, recorded
in `runs`."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, cast

from prefect import flow, get_run_logger

from flows.aggregate import aggregate
from flows.alerts import alerts
from flows.classify import classify
from flows.explain import explain
from flows.ingest import ingest
from flows.themes import themes
from mining.fanout import task_runner_for
from mining.params import RunParameters
from mining.pipeline import (
    derived_inputs,
    derived_stages_current,
    mark_derived_inputs,
    new_run_id,
)
from mining.runlock import RunInProgress, exclusive_run
from mining.store.db import Store

log = logging.getLogger("mining")


@flow(name="radar-pipeline", log_prints=True)
def pipeline(params: RunParameters | None = None) -> dict[str, Any]:
    params = params or RunParameters.from_settings()
    run_id = new_run_id()
    try:
        with exclusive_run(params.db_path, f"run {run_id}"):
            return _run(params, run_id)
    except RunInProgress as exc:
        get_run_logger().warning("skipped: %s", exc)
        return {"run_id": run_id, "status": "skipped", "message": str(exc),
                "db_path": str(params.db_path), "read_copy_path": str(params.read_copy_path)}


def _stage(run_id: str, name: str) -> float:
    """Log that a stage starts (operators and the kill tests watch for this line)."""
    log.info("run %s: stage %s started", run_id, name)
    return time.perf_counter()


def _run(params: RunParameters, run_id: str) -> dict[str, Any]:
    with Store.open(params.db_path) as store:
        store.abandon_stale_runs()
        store.start_run(run_id, None)
    seconds: dict[str, float] = {}
    counts: dict[str, Any] = {}
    model_version = None
    try:
        start = _stage(run_id, "ingest")
        ingested = ingest(params, run_id)
        seconds["ingest"] = time.perf_counter() - start

        start = _stage(run_id, "classify")
        classified = classify.with_options(task_runner=task_runner_for(params))(params, run_id)
        seconds["classify"] = time.perf_counter() - start
        model_version = str(classified["model_version"])

        with Store.open(params.db_path) as store:
            inputs = derived_inputs(store, (params.taxonomy_path, params.analysis_config),
                                    model_version, str(classified["custom_version"]))
            unchanged = derived_stages_current(store, inputs)
            mark_derived_inputs(store, run_id, inputs, done=unchanged)
        explained: dict[str, Any] = {}
        if unchanged:
            log.info("run %s: aggregate, themes and explain skipped: nothing they read has "
                     "changed since the last run", run_id)
        else:
            start = _stage(run_id, "aggregate")
            aggregate(params)
            seconds["aggregate"] = time.perf_counter() - start

            start = _stage(run_id, "themes")
            themes(params, run_id)
            seconds["themes"] = time.perf_counter() - start

            start = _stage(run_id, "explain")
            explained = explain(params, run_id)
            seconds["explain"] = time.perf_counter() - start
            with Store.open(params.db_path) as store:
                mark_derived_inputs(store, run_id, inputs, done=True)

        start = _stage(run_id, "alerts")
        alerted = alerts(params, run_id)
        seconds["alerts"] = time.perf_counter() - start

        counts = {k: ingested[k] for k in ("rows_read", "feedback_added", "complaints_added",
                                           "feedback_updated", "complaints_updated",
                                           "quarantined", "duplicates")}
        counts |= {"classified": classified["classified"],
                   "predictions_reused": classified["reused"]}
        counts |= {"alerts_new": alerted["alerts_new"], "alerts_sent": alerted["sent"],
                   "alert_deliveries_pending": alerted["pending"]}
        errors = list(cast(list[str], ingested["errors"]))
        failed = list(cast(list[str], ingested["failed_sources"]))
        status = "succeeded_with_errors" if errors else "succeeded"
    except BaseException as exc:
        with Store.open(params.db_path) as store:
            store.finish_run(run_id, "failed", counts, json.dumps(seconds), model_version,
                             f"{type(exc).__name__}: {exc}")
        raise
    start = _stage(run_id, "publish")
    with Store.open(params.db_path) as store:
        store.finish_run(run_id, status, counts, json.dumps(seconds), model_version,
                         "; ".join(errors) or None)
        try:
            store.publish_read_copy(params.read_copy_path)
        except Exception as exc:
            # Not published means not done: the run says so rather than "succeeded".
            store.finish_run(run_id, "failed", counts, json.dumps(seconds), model_version,
                             f"publishing {params.read_copy_path}: {type(exc).__name__}: {exc}")
            raise
    seconds["publish"] = time.perf_counter() - start
    log.info("run %s: %s, read copy published to %s", run_id, status, params.read_copy_path)
    return {"run_id": run_id, "status": status, "model_version": model_version,
            "counts": counts, "explained": explained, "derived_skipped": unchanged,
            "errors": errors, "failed_sources": failed,
            "stage_seconds": seconds, "db_path": str(params.db_path),
            "read_copy_path": str(params.read_copy_path)}
