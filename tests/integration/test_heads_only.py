"""`mining train --heads-only`: new heads on the shipped encoder, from cached features;
and the label loop those refits serve. Both share the session's feature cache, so they
share a module (`make test` sends a module to one pytest-xdist worker).

The label loop: corrections in a loop, end to end on the real model and real corpus texts.

A deliberately weakened model: heads refit without 98 % of the corpus's train rows labelled
`waiting` and without 15 % of its other train rows. Those rows are the production
traffic the model never saw: they go into a store with the weakened model's predictions;
`mining label export` picks the uncertain ones; the analyst's corrections are the corpus's own
human labels of those texts; `mining label import` stores them; a heads-only refit with the
corrections raises the weakened type's dev F1. Dev texts are never stored nor corrected, so the
rise is learnt, not leaked.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mining.classify.features import CachedPredictor, FeatureCache
from mining.classify.model import FeedbackClassifier, LabelSpace
from mining.classify.train import TrainConfig, build_datasets, feature_cache, refit_heads
from mining.pipeline import classify_pending
from mining.store.db import Store

pytestmark = pytest.mark.integration


def refit_config(repo_root: Path, shared_data: Path, tmp_path: Path,
                 feature_cache_dir: Path) -> TrainConfig:
    """The default recipe on reduced public sets (train, dev and validation parts), for
    heads-only refits under test (the refit is what is tested, not the card's figures)."""
    cfg = TrainConfig.load(repo_root / "config" / "train.yaml")
    cfg.models_dir = tmp_path / "models"
    cfg.feature_cache_dir = feature_cache_dir
    cfg.data.shared = shared_data
    cfg.data.airline_max, cfg.data.restaurants_max, cfg.data.chinese_max = 1500, 600, 600
    cfg.data.dev_max_per_set = cfg.data.validation_max_per_set = 300
    cfg.data.rated_max_per_set = 100
    cfg.compare_baseline = False
    return cfg


def test_heads_only_refit_reuses_the_encoder_and_its_features(
        repo_root: Path, model_dir: Path, shared_data: Path, tmp_path: Path,
        training_feature_cache: Path) -> None:
    cfg = refit_config(repo_root, shared_data, tmp_path, training_feature_cache)
    cfg.data.gold = repo_root / "data" / "labels" / "gold.csv"
    cfg.data.corpus = repo_root / "data" / "labels" / "corpus.csv"

    started = time.perf_counter()
    first = refit_heads(model_dir=model_dir, cfg=cfg)
    cold_seconds = time.perf_counter() - started
    folders = list(cfg.feature_cache_dir.iterdir())
    assert len(folders) == 1
    cached = len(FeatureCache(cfg.feature_cache_dir, folders[0].name))

    started = time.perf_counter()
    second = refit_heads(model_dir=first, cfg=cfg)
    warm_seconds = time.perf_counter() - started
    # The second refit shares the encoder file, so it finds every feature in the cache.
    assert len(FeatureCache(cfg.feature_cache_dir, folders[0].name)) == cached
    assert warm_seconds < 120, f"a heads-only refit took {warm_seconds:.0f} s"
    assert warm_seconds < cold_seconds

    for out in (first, second):
        assert (out / "model.int8.onnx").read_bytes() == (model_dir / "model.int8.onnx"
                                                          ).read_bytes()
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["heads_only"]["encoder_from"]
        assert "corpus_test" in metrics["validation"]
        assert "heads-only" in (out / "README.md").read_text(encoding="utf-8")
    shipped = FeedbackClassifier.load(model_dir)
    refit = FeedbackClassifier.load(second)
    texts = ["The waiter was rude and we waited an hour for cold food. Never again.",
             "房间干净，服务热情，下次还来。"]
    np.testing.assert_allclose(refit.pooled(texts), shipped.pooled(texts), atol=1e-6)
    assert refit.heads is not None and shipped.heads is not None
    assert not np.array_equal(refit.heads.weights["failure"], shipped.heads.weights["failure"])
    # The response heads read n-grams too: refit with them, saved beside them, used by predict.
    assert refit.heads.lexical is not None and (second / "lexical.json").is_file()
    assert refit.heads.response_lexical is not None
    assert np.abs(refit.heads.response_lexical).sum() > 0
    predictions = refit.predict(texts)
    assert predictions[0].sentiment == "negative" and predictions[1].sentiment == "positive"


# The label loop (runs after the refit above, whose features it finds in the cache).
# A type the shipped encoder cannot learn from 2 % of its rows. With 2026-12-02.1's features,
# refit alone on the corpus (`promise_mismatch` first served here): waiting's dev F1 is 0.51
# from 2 % of its train rows and 0.63 from 45 %; promise_mismatch's 0.44 and 0.48, too close
# for the rise to stand out from the refit's noise.
WEAKENED = "waiting"
KEEP_SHARE = 2    # percent of the type's train rows the weakened model still trains on
OTHER_SHARE = 15  # percent of the other train rows held aside as production traffic too
EXPORTED = 600


def share(item_id: str) -> int:
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % 100


def production(corpus: pd.DataFrame) -> pd.Series:
    """Which corpus rows the weakened model never sees: most train rows of the type and a
    sample of the others (dev and test untouched)."""
    has_type = corpus["failure_types"].str.split(";").map(lambda ids: WEAKENED in ids)
    chance = corpus["id"].map(share)
    return (corpus["split"] == "train") & ((has_type & (chance >= KEEP_SHARE))
                                           | (~has_type & (chance < OTHER_SHARE)))


def mining(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mining.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=env)


def store_texts(db: Path, corpus: pd.DataFrame) -> None:
    now = datetime(2026, 12, 1)
    rows = pa.Table.from_pylist([{
        "item_id": f"fb-{row.id}", "source": "corpus", "external_id": row.id,
        "content_hash": hashlib.sha256(row.text.encode()).hexdigest(),
        "created_at": now, "site": row.domain, "language": row.language, "text": row.text,
        "run_id": "label-loop", "ingested_at": now,
    } for row in corpus.itertuples(index=False)])
    with Store.open(db) as store, store.transaction():
        store.insert_arrow("feedback", rows)


# Run alone, a cold feature cache encodes every train, dev and validation text once (minutes
# on a busy 2-core machine); after test_heads_only in the same session it finds them all.
@pytest.mark.timeout(2700)
def test_corrections_raise_the_weakened_heads_dev_f1(
        repo_root: Path, model_dir: Path, shared_data: Path, tmp_path: Path,
        training_feature_cache: Path) -> None:
    corpus = pd.read_csv(repo_root / "data" / "labels" / "corpus.csv", dtype=str,
                         keep_default_na=False)
    aside = production(corpus)
    weakened = tmp_path / "corpus_weakened.csv"
    corpus[~aside].to_csv(weakened, index=False)
    corrections = tmp_path / "labels" / "corrections.csv"

    # The heads-only test's texts are in the session's feature cache.
    cfg = refit_config(repo_root, shared_data, tmp_path, training_feature_cache)
    cfg.data.gold = None
    cfg.data.corpus = weakened
    cfg.data.corrections = corrections

    started = time.perf_counter()
    weak = refit_heads(model_dir=model_dir, cfg=cfg)
    weak_seconds = time.perf_counter() - started
    before = json.loads((weak / "metrics.json").read_text(encoding="utf-8"))
    f1_before = before["thresholds"]["dev_f1"][WEAKENED]
    assert WEAKENED not in before["disabled"], "the weakened head must still be scored"

    # The store: the production rows, classified by the weakened model.
    stored_rows = corpus[aside]
    db = tmp_path / "radar.duckdb"
    store_texts(db, stored_rows)
    labels = LabelSpace.load(weak / "labels.json")
    classifier = FeedbackClassifier.load(weak)
    assert classifier.heads is not None
    cached = CachedPredictor(classifier, classifier.heads, labels,
                             feature_cache(cfg, weak, labels))
    with Store.open(db) as store:
        counts = classify_pending(store, classifier, "label-loop",
                                  predict_many=lambda texts: cached.predict(texts))
    assert counts.classified == len(set(stored_rows["text"]))

    env = {**os.environ, "MINING_MODELS_DIR": str(cfg.models_dir),
           "MINING_CORRECTIONS_PATH": str(corrections), "MINING_DB_PATH": str(db),
           "MINING_READ_COPY_PATH": str(tmp_path / "radar_read.duckdb")}
    export = tmp_path / "uncertain.csv"
    done = mining(["label", "export", "--uncertain", str(EXPORTED), "--out", str(export),
                   "--db", str(db)], repo_root, env)
    assert done.returncode == 0, done.stderr[-3000:]
    exported = pd.read_csv(export, dtype=str, keep_default_na=False)
    assert len(exported) == EXPORTED
    assert exported["margin"].astype(float).is_monotonic_increasing is False  # spread, not sorted
    assert exported["site"].nunique() == stored_rows["domain"].nunique()
    assert WEAKENED in set(exported["nearest_label"])

    # The analyst: the corpus's own (human) labels of the exported texts.
    truth = stored_rows.drop_duplicates("text").set_index("text")
    filled = exported.copy()
    for column in ("sentiment", "failure_types", "response"):
        filled[column] = [truth.at[text, column] for text in exported["text"]]
    filled.to_csv(export, index=False, quoting=csv.QUOTE_MINIMAL)
    positives = sum(WEAKENED in t.split(";") for t in filled["failure_types"])
    assert positives > 0
    done = mining(["label", "import", str(export), "--labeller", "corpus annotators"],
                  repo_root, env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{EXPORTED} new" in done.stdout
    stored = pd.read_csv(corrections, dtype=str, keep_default_na=False)
    assert len(stored) == EXPORTED and set(stored["labeller"]) == {"corpus annotators"}

    started = time.perf_counter()
    strong = refit_heads(model_dir=weak, cfg=cfg)
    strong_seconds = time.perf_counter() - started
    after = json.loads((strong / "metrics.json").read_text(encoding="utf-8"))
    f1_after = after["thresholds"]["dev_f1"][WEAKENED]
    # Every correction trains, but those whose text is also a dev or validation text.
    _, dev, validation, _ = build_datasets(cfg)
    held_out = {e.text.strip() for group in (*dev.values(), *validation.values()) for e in group}
    assert after["training_examples"]["corrections"] == sum(
        t.strip() not in held_out for t in stored["text"])
    assert any(f["path"] == str(corrections) for f in after["data_files"])
    shipped = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    print(f"\n{WEAKENED} dev F1: shipped {shipped['thresholds']['dev_f1'][WEAKENED]}, "
          f"weakened {f1_before}, after {EXPORTED} corrections ({positives} of them positives) "
          f"{f1_after}; refits {weak_seconds:.0f} s and {strong_seconds:.0f} s")
    assert f1_after > f1_before + 0.02, (f1_before, f1_after)
