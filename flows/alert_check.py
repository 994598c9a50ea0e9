"""Flow: the alert check that runs between pipeline runs (retries, escalations, new spikes)."""

from __future__ import annotations

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
            counts = alerts(params, run_id)
            with Store.open(params.db_path) as store:
                store.publish_read_copy(params.read_copy_path)
    except RunInProgress as exc:
        get_run_logger().warning("skipped: %s", exc)
        return {"run_id": run_id, "status": "skipped", "message": str(exc)}
    return {"run_id": run_id, "status": "succeeded", **counts}
