"""Flow: rebuild the trend tables and publish the analysts' read-only copy."""

from __future__ import annotations

from prefect import flow

from mining.params import RunParameters
from mining.pipeline import refresh_aggregates
from mining.store.db import Store
from mining.taxonomy import Taxonomy


@flow(name="aggregate")
def aggregate(params: RunParameters) -> dict[str, object]:
    with Store.open(params.db_path) as store:
        rows = refresh_aggregates(store, Taxonomy.load(params.taxonomy_path))
    return {"daily_trend_rows": rows}
