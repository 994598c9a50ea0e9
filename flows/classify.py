"""Flow: classify every stored text that has no prediction from the current model, then give
stored history the current custom failure types (from cached features).

Shards of texts go to the flow's task runner (threads, or Dask workers) to be encoded; this
flow alone writes predictions and the feature cache.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from prefect import flow, task, unmapped

from mining.classify.model import default_model_path
from mining.classify.taxonomy_model import TaxonomyClassifier
from mining.fanout import cached_classifier, encode_shard, shards, worker_threads
from mining.params import RunParameters
from mining.pipeline import classify_pending, relabel_custom_types
from mining.store.db import Store

encode_task = task(encode_shard, name="encode-shard")


@flow(name="classify")
def classify(params: RunParameters, run_id: str) -> dict[str, object]:
    model_dir = str((params.model_path or default_model_path(params.models_dir)).resolve())
    threads = worker_threads(params)
    # In-process workers (threads) share this cached instance; Dask workers load their own.
    classifier = TaxonomyClassifier.load(
        Path(model_dir), params.taxonomy_path, params.custom_heads_dir, params.features_dir,
        classifier=cached_classifier(model_dir, threads))

    def encode_many(texts: list[str]) -> np.ndarray:
        futures = encode_task.map(unmapped(model_dir), unmapped(threads),
                                  unmapped(params.classify_batch_size),
                                  shards(texts, params.classify_shard_size))
        return np.concatenate([future.result() for future in futures])

    with Store.open(params.db_path) as store:
        counts = classify_pending(store, classifier, run_id,
                                  chunk_size=params.classify_chunk_size,
                                  batch_size=params.classify_batch_size,
                                  encode_many=encode_many)
        relabelled = relabel_custom_types(store, classifier, encode_many=encode_many)
    return asdict(counts) | {"model_version": classifier.version,
                             "custom_version": classifier.custom_version,
                             "relabelled": relabelled.items}
