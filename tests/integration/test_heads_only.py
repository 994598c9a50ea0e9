"""`mining train --heads-only`: new heads on the shipped encoder, from cached features."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from mining.classify.features import FeatureCache
from mining.classify.model import FeedbackClassifier
from mining.classify.train import TrainConfig, refit_heads

pytestmark = pytest.mark.integration


def test_heads_only_refit_reuses_the_encoder_and_its_features(
        repo_root: Path, model_dir: Path, shared_data: Path, tmp_path: Path,
        training_feature_cache: Path) -> None:
    cfg = TrainConfig.load(repo_root / "config" / "train.yaml")
    cfg.models_dir = tmp_path / "models"
    cfg.feature_cache_dir = training_feature_cache
    cfg.data.shared = shared_data
    cfg.data.gold = repo_root / "data" / "labels" / "gold.csv"
    cfg.data.corpus = repo_root / "data" / "labels" / "corpus.csv"
    cfg.data.airline_max, cfg.data.restaurants_max, cfg.data.chinese_max = 1500, 600, 600
    cfg.data.dev_max_per_set = 300
    cfg.compare_baseline = False  # the refit is under test, not the baseline's figures

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
