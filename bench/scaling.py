"""Classification throughput with 1 and 2 Dask workers against one in-process classifier.

    .venv/bin/python bench/scaling.py [--texts 2000] [--workers 1 2]

Same code path as `mining run --dask-workers N`: shards of texts go to `predict_shard` on Dask
worker processes (one ONNX Runtime thread each, the model loaded once per worker), results come
back to one writer. Texts are real tweets from ../shared/data. Writes artifacts/scaling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
from distributed import Client, LocalCluster

from mining.classify.model import default_model_path
from mining.fanout import cached_classifier, predict_shard, shards


def timed_local(model_dir: str, texts: list[str], threads: int) -> float:
    classifier = cached_classifier(model_dir, threads)
    classifier.predict(texts[:64])
    start = time.perf_counter()
    classifier.predict(texts, batch_size=32)
    return time.perf_counter() - start


def timed_dask(model_dir: str, texts: list[str], workers: int, shard_size: int) -> float:
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        # Warm-up: every worker loads the model once, as in a long-running cluster.
        client.gather(client.map(predict_shard, [model_dir] * workers, [1] * workers,
                                 [32] * workers, [texts[:32]] * workers, pure=False))
        batches = shards(texts, shard_size)
        start = time.perf_counter()
        client.gather(client.map(predict_shard, [model_dir] * len(batches), [1] * len(batches),
                                 [32] * len(batches), batches, pure=False))
        return time.perf_counter() - start


def writer_rows_per_second(rows: int = 200_000) -> float:
    """How fast the single writer stores predictions (Arrow bulk insert, one transaction)."""
    import tempfile
    from datetime import datetime

    import pyarrow as pa

    from mining.pipeline import PREDICTION_SCHEMA
    from mining.store.db import Store

    now = datetime(2026, 1, 1)
    table = pa.Table.from_pylist([{
        "item_id": f"i{i}", "model_version": "m/1", "item_kind": "feedback",
        "content_hash": f"h{i}", "sentiment": "negative", "sentiment_score": 0.9,
        "failure_types": ["waiting"], "failure_scores": '{"waiting": 0.8}', "responses": [],
        "response_scores": "{}", "run_id": "r", "predicted_at": now} for i in range(rows)],
        schema=PREDICTION_SCHEMA)
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "w.duckdb") as store:
        start = time.perf_counter()
        with store.transaction():
            store.insert_arrow("predictions", table)
        return rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shard-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path("artifacts/scaling.json"))
    args = parser.parse_args()
    model_dir = str(default_model_path(Path("models")).resolve())
    tweets = pd.read_csv(args.shared / "airline_tweets" / "tweets.csv")
    texts = tweets["text"].drop_duplicates().sample(args.texts, random_state=5).tolist()

    results = {"texts": len(texts), "cores": os.cpu_count(), "model": model_dir, "runs": []}
    seconds = timed_local(model_dir, texts, threads=2)
    results["runs"].append({"setup": "in process, 2 ONNX threads", "seconds": round(seconds, 2),
                            "texts_per_second": round(len(texts) / seconds, 1)})
    for workers in args.workers:
        seconds = timed_dask(model_dir, texts, workers, args.shard_size)
        results["runs"].append({"setup": f"Dask LocalCluster, {workers} worker(s) x 1 thread",
                                "seconds": round(seconds, 2),
                                "texts_per_second": round(len(texts) / seconds, 1)})
    results["writer_prediction_rows_per_second"] = round(writer_rows_per_second())
    print(f"single writer: {results['writer_prediction_rows_per_second']:,} prediction rows/s")
    for run in results["runs"]:
        print(f"{run['setup']:<42} {run['texts_per_second']:>8.1f} texts/s "
              f"({run['seconds']} s for {len(texts)})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
