"""Flow: cluster the last window's negative feedback that no failure type covers into themes."""

from __future__ import annotations

import logging
from dataclasses import asdict

from prefect import flow

from mining.analysis.config import AnalysisConfig
from mining.analysis.themes import ThemeCounts, refresh_themes
from mining.classify.features import FeatureCache, file_digest
from mining.classify.model import ONNX_FILE, default_model_path
from mining.fanout import cached_classifier, worker_threads
from mining.params import RunParameters
from mining.store.db import Store

log = logging.getLogger("mining")


@flow(name="themes")
def themes(params: RunParameters, run_id: str) -> dict[str, int]:
    config = AnalysisConfig.load(params.analysis_config).themes
    model_dir = (params.model_path or default_model_path(params.models_dir)).resolve()
    classifier = cached_classifier(str(model_dir), worker_threads(params))
    if classifier.heads is None:
        log.warning("themes skipped: %s exports no pooled features", classifier.version)
        return asdict(ThemeCounts(0, 0, 0, 0))
    digest = file_digest(model_dir / ONNX_FILE)
    cache = FeatureCache(params.features_dir, digest)
    with Store.open(params.db_path) as store:
        counts = refresh_themes(store, config,
                                lambda texts: cache.features(texts, classifier.pooled),
                                run_id, model_version=classifier.version, encoder_digest=digest)
    log.info("themes: %d uncovered negative items in the window, %d themes (%d items)",
             counts.uncovered_items, counts.themes, counts.themed_items)
    return asdict(counts)
