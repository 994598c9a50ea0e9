"""Flow: classify every stored text that has no prediction from the current model."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from mining.classify.model import load_classifier
from mining.params import RunParameters
from mining.pipeline import classify_pending
from mining.store.db import Store


@flow(name="classify")
def classify(params: RunParameters, run_id: str) -> dict[str, object]:
    classifier = load_classifier(params.model_path, params.models_dir, params.torch_threads)
    with Store.open(params.db_path) as store:
        counts = classify_pending(store, classifier, run_id,
                                  chunk_size=params.classify_chunk_size,
                                  batch_size=params.classify_batch_size)
    return asdict(counts) | {"model_version": classifier.version}
