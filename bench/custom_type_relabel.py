"""Relabel 100,000 stored items for a new custom type from cached features (issue 15: <= 60 s).

Builds, in a temporary folder, a DuckDB store of N feedback items with predictions of the
shipped model and their pooled features in the feature cache, adds the `noise` head fit on
docs/examples/noise.csv, and times `relabel_custom_types` (what `mining types add` and every run
do). Texts are real booking.com hotel reviews resampled to N distinct texts (each gets a
suffix `#i`, so the cache holds N keys); their features are the real model's, computed once per
distinct review and reused for its copies.

    .venv/bin/python bench/custom_type_relabel.py [--items 100000] [--distinct 3000]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mining.classify.custom import (  # noqa: E402
    examples_features,
    fit_head,
    heads_folder,
    read_examples,
)
from mining.classify.features import FeatureCache, file_digest  # noqa: E402
from mining.classify.model import ONNX_FILE, FeedbackClassifier, default_model_path  # noqa: E402
from mining.classify.taxonomy_model import TaxonomyClassifier  # noqa: E402
from mining.pipeline import PREDICTION_SCHEMA, relabel_custom_types  # noqa: E402
from mining.store.db import Store  # noqa: E402
from mining.taxonomy import write_custom_type  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=3000)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()

    model_dir = default_model_path(ROOT / "models")
    classifier = FeedbackClassifier.load(model_dir, threads=2)
    with (args.shared / "booking_hotels" / "reviews.csv").open(encoding="utf-8") as handle:
        reviews = list(dict.fromkeys(r["text"].strip() for r in csv.DictReader(handle)
                                     if r["text"].strip()))
    base = random.Random(7).sample(reviews, args.distinct)
    start = time.perf_counter()
    base_features = classifier.pooled(base)
    encode_seconds = time.perf_counter() - start

    work = Path(tempfile.mkdtemp(prefix="relabel-bench-"))
    try:
        pick = np.random.default_rng(7).integers(0, len(base), args.items)
        texts = [f"{base[j]} #{i}" for i, j in enumerate(pick)]
        vector_of = dict(zip(texts, base_features[pick], strict=True))
        digest = file_digest(model_dir / ONNX_FILE)
        cache = FeatureCache(work / "features", digest)
        cache.features(texts, lambda chunk: np.stack([vector_of[t] for t in chunk]))

        db = work / "radar.duckdb"
        s, f, r = classifier.heads.apply(base_features, base) if classifier.heads else (None,) * 3
        assert s is not None and f is not None and r is not None
        labels = classifier.labels
        now = datetime(2026, 12, 1)
        hashes = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]
        with Store.open(db) as store, store.transaction():
            store.insert_arrow("feedback", pa.table({
                "item_id": [f"i{i}" for i in range(args.items)],
                "source": ["bench"] * args.items, "content_hash": hashes,
                "created_at": [now - timedelta(hours=i % 2000) for i in range(args.items)],
                "site": [f"hotel-{i % 20}" for i in range(args.items)],
                "language": ["en"] * args.items, "text": texts,
                "run_id": ["bench"] * args.items, "ingested_at": [now] * args.items}))
            by_base = [
                (json.dumps({t: round(float(f[j, k]), 6) for k, t in
                             enumerate(labels.failure_types)}, sort_keys=True),
                 [t for k, t in enumerate(labels.failure_types)
                  if f[j, k] >= labels.failure_thresholds.get(t, 0.5)])
                for j in range(len(base))]
            store.insert_arrow("predictions", pa.Table.from_pylist([{
                "item_id": f"i{i}", "model_version": classifier.version,
                "item_kind": "feedback", "content_hash": hashes[i],
                "sentiment": labels.sentiments[int(s[j].argmax())],
                "sentiment_score": float(s[j].max()), "failure_types": by_base[j][1],
                "failure_scores": by_base[j][0], "responses": [], "response_scores": "{}",
                "run_id": "bench", "predicted_at": now, "custom_version": ""}
                for i, j in enumerate(pick.tolist())], schema=PREDICTION_SCHEMA))

        taxonomy = work / "config" / "taxonomy.yaml"
        (taxonomy.parent / "custom_types").mkdir(parents=True)
        shutil.copyfile(ROOT / "config" / "taxonomy.yaml", taxonomy)
        shutil.copyfile(ROOT / "docs" / "examples" / "noise.csv",
                        taxonomy.parent / "custom_types" / "noise.csv")
        examples = read_examples(taxonomy.parent / "custom_types" / "noise.csv")
        start = time.perf_counter()
        head = fit_head("noise", examples_features(examples, classifier.pooled), examples,
                        digest)
        fit_seconds = time.perf_counter() - start
        head.save(heads_folder(work / "heads", digest))
        write_custom_type(taxonomy, "noise", "product", "Noise", "custom_types/noise.csv")

        start = time.perf_counter()
        loaded = TaxonomyClassifier.load(model_dir, taxonomy, work / "heads", work / "features",
                                         classifier=classifier)
        load_seconds = time.perf_counter() - start
        with Store.open(db) as store:
            counts = relabel_custom_types(store, loaded)
            noisy = store.execute("SELECT count(*) FROM predictions "
                                  "WHERE list_contains(failure_types, 'noise')").fetchall()[0][0]
            again = relabel_custom_types(store, loaded)
        print(json.dumps({
            "items": args.items, "distinct_reviews": args.distinct,
            "encode_distinct_seconds": round(encode_seconds, 1),
            "noise_head_fit_seconds (encode 63 examples + 5-fold CV + fit)": round(fit_seconds, 2),
            "load_classifier_and_feature_cache_seconds": round(load_seconds, 1),
            "relabel_seconds": round(counts.seconds, 1), "relabelled": counts.items,
            "texts_encoded_during_relabel": counts.encoded, "items_with_noise": noisy,
            "second_relabel_items": again.items,
            "cv_precision": head.cv_precision, "cv_recall": head.cv_recall,
            "n": [head.n_positive, head.n_negative]}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
