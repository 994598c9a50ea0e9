"""Flow: detect spikes, record alerts in the outbox, escalate, deliver what is due."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from flows.explain import alert_explainer
from mining.alerts.config import AlertsConfig
from mining.alerts.notify import build_notifiers
from mining.alerts.service import run_alerts
from mining.params import RunParameters
from mining.store.db import Store
from mining.taxonomy import Taxonomy


@flow(name="alerts")
def alerts(params: RunParameters, run_id: str) -> dict[str, int]:
    config = AlertsConfig.load(params.alerts_config)
    with Store.open(params.db_path) as store:
        counts = run_alerts(store, config, Taxonomy.load(params.taxonomy_path),
                            build_notifiers(config.channels), run_id,
                            explain=alert_explainer(params, run_id))
    return asdict(counts)
