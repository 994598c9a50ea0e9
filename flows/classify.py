"""Flow: classify every stored text that has no prediction from the current model.

Shards of texts go to the flow's task runner (threads, or Dask workers); this flow alone writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from prefect import flow, task, unmapped

from mining.classify.model import Prediction, default_model_path
from mining.fanout import cached_classifier, predict_shard, shards, worker_threads
from mining.params import RunParameters
from mining.pipeline import classify_pending
from mining.store.db import Store

predict_task = task(predict_shard, name="predict-shard")


@flow(name="classify")
def classify(params: RunParameters, run_id: str) -> dict[str, object]:
    model_dir = str((params.model_path or default_model_path(params.models_dir)).resolve())
    threads = worker_threads(params)
    # In-process workers (threads) share this cached instance; Dask workers load their own.
    classifier = cached_classifier(model_dir, threads)

    def predict_many(texts: list[str]) -> Sequence[Prediction]:
        futures = predict_task.map(unmapped(model_dir), unmapped(threads),
                                   unmapped(params.classify_batch_size),
                                   shards(texts, params.classify_shard_size))
        return [p for future in futures for p in future.result()]

    with Store.open(params.db_path) as store:
        counts = classify_pending(store, classifier, run_id,
                                  chunk_size=params.classify_chunk_size,
                                  batch_size=params.classify_batch_size,
                                  predict_many=predict_many)
    return asdict(counts) | {"model_version": classifier.version}
