"""Flow: rebuild the trend tables and the silent-dissatisfaction analysis."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from mining.analysis.config import AnalysisConfig
from mining.analysis.refresh import refresh_analysis
from mining.params import RunParameters
from mining.pipeline import refresh_aggregates
from mining.store.db import Store
from mining.taxonomy import Taxonomy


@flow(name="aggregate")
def aggregate(params: RunParameters) -> dict[str, object]:
    taxonomy = Taxonomy.load(params.taxonomy_path)
    analysis_config = AnalysisConfig.load(params.analysis_config)
    with Store.open(params.db_path) as store:
        rows = refresh_aggregates(store, taxonomy)
        analysis = refresh_analysis(store, taxonomy, analysis_config)
    return {"daily_trend_rows": rows, **asdict(analysis)}
