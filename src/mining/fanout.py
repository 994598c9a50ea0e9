"""Where classification runs: threads in this process, or a Dask cluster through Prefect.

The task runner is chosen from the run parameters; model files are loaded once per worker
process and cached, so a shard costs only its inference.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from prefect.task_runners import ThreadPoolTaskRunner

from mining.classify.model import FeedbackClassifier, Prediction
from mining.params import RunParameters


def task_runner_for(params: RunParameters) -> Any:
    """Dask at an address, a local Dask cluster of N worker processes, or one local thread."""
    if params.dask_address or params.dask_workers:
        from prefect_dask import DaskTaskRunner

        if params.dask_address:
            return DaskTaskRunner(address=params.dask_address)
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": params.dask_workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None})
    # onnxruntime already uses the cores; more threads would only contend.
    return ThreadPoolTaskRunner(max_workers=1)


def worker_threads(params: RunParameters) -> int:
    """Intra-op threads per worker: the cores are shared among local Dask workers."""
    if params.dask_workers:
        return max(1, params.torch_threads // params.dask_workers)
    return params.torch_threads


@lru_cache(maxsize=2)
def cached_classifier(model_dir: str, threads: int) -> FeedbackClassifier:
    return FeedbackClassifier.load(model_dir, threads)


def predict_shard(model_dir: str, threads: int, batch_size: int,
                  texts: list[str]) -> list[Prediction]:
    return cached_classifier(model_dir, threads).predict(texts, batch_size=batch_size)


def encode_shard(model_dir: str, threads: int, batch_size: int, texts: list[str]) -> np.ndarray:
    """Pooled features of a shard: the encoder's work; the heads run in the writer."""
    return cached_classifier(model_dir, threads).pooled(texts, batch_size=batch_size)


def shards(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i:i + size] for i in range(0, len(texts), size)]
