"""Parent flow: ingest → classify → aggregate → alerts → publish, recorded in `runs`."""

from __future__ import annotations

import json
import time
from typing import Any

from prefect import flow, get_run_logger

from flows.aggregate import aggregate
from flows.alerts import alerts
from flows.classify import classify
from flows.ingest import ingest
from mining.fanout import task_runner_for
from mining.params import RunParameters
from mining.pipeline import new_run_id
from mining.runlock import RunInProgress, exclusive_run
from mining.store.db import Store


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


def _run(params: RunParameters, run_id: str) -> dict[str, Any]:
    with Store.open(params.db_path) as store:
        store.abandon_stale_runs()
        store.start_run(run_id, None)
    seconds: dict[str, float] = {}
    counts: dict[str, Any] = {}
    model_version = None
    try:
        start = time.perf_counter()
        ingested = ingest(params, run_id)
        seconds["ingest"] = time.perf_counter() - start

        start = time.perf_counter()
        classified = classify.with_options(task_runner=task_runner_for(params))(params, run_id)
        seconds["classify"] = time.perf_counter() - start
        model_version = str(classified["model_version"])

        start = time.perf_counter()
        aggregate(params)
        seconds["aggregate"] = time.perf_counter() - start

        start = time.perf_counter()
        alerted = alerts(params, run_id)
        seconds["alerts"] = time.perf_counter() - start

        counts = {k: ingested[k] for k in ("rows_read", "feedback_added", "complaints_added",
                                           "feedback_updated", "complaints_updated",
                                           "quarantined", "duplicates")}
        counts |= {"classified": classified["classified"],
                   "predictions_reused": classified["reused"]}
        counts |= {"alerts_new": alerted["alerts_new"], "alerts_sent": alerted["sent"],
                   "alert_deliveries_pending": alerted["pending"]}
        errors = list(ingested["errors"])  # type: ignore[call-overload]
        status = "succeeded_with_errors" if errors else "succeeded"
    except BaseException as exc:
        with Store.open(params.db_path) as store:
            store.finish_run(run_id, "failed", counts, json.dumps(seconds), model_version,
                             f"{type(exc).__name__}: {exc}")
        raise
    start = time.perf_counter()
    with Store.open(params.db_path) as store:
        store.finish_run(run_id, status, counts, json.dumps(seconds), model_version,
                         "; ".join(errors) or None)
        store.publish_read_copy(params.read_copy_path)
    seconds["publish"] = time.perf_counter() - start
    return {"run_id": run_id, "status": status, "model_version": model_version,
            "counts": counts, "errors": errors, "stage_seconds": seconds,
            "db_path": str(params.db_path), "read_copy_path": str(params.read_copy_path)}
