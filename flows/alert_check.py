"""Flow: the alert check that runs between pipeline runs (retries, escalations, new spikes).

Recorded in `runs` like a pipeline run, so analysts see every unattended run in SQL.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prefect import flow, get_run_logger

from flows.alerts import alerts
from mining.params import RunParameters
from mining.pipeline import new_run_id
from mining.runlock import RunInProgress, exclusive_run
from mining.store.db import Store


@flow(name="radar-alert-check", log_prints=True)
def alert_check(params: RunParameters | None = None) -> dict[str, Any]:
    params = params or RunParameters.from_settings()
    run_id = f"alerts-{new_run_id()}"
    try:
        with exclusive_run(params.db_path, f"alert check {run_id}"):
            return _check(params, run_id)
    except RunInProgress as exc:
        get_run_logger().warning("skipped: %s", exc)
        return {"run_id": run_id, "status": "skipped", "message": str(exc)}


def _check(params: RunParameters, run_id: str) -> dict[str, Any]:
    with Store.open(params.db_path) as store:
        store.start_run(run_id, None)
    start = time.perf_counter()
    try:
        counts = alerts(params, run_id)
    except BaseException as exc:
        with Store.open(params.db_path) as store:
            store.finish_run(run_id, "failed", {}, "{}", None, f"{type(exc).__name__}: {exc}")
        raise
    seconds = json.dumps({"alerts": time.perf_counter() - start})
    with Store.open(params.db_path) as store:
        store.finish_run(run_id, "succeeded", {
            "alerts_new": counts["alerts_new"], "alerts_sent": counts["sent"],
            "alert_deliveries_pending": counts["pending"]}, seconds)
        store.publish_read_copy(params.read_copy_path)
    return {"run_id": run_id, "status": "succeeded", **counts}
