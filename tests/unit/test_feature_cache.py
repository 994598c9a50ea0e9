"""The feature cache computes each text once, survives a restart, and keeps input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mining.classify.features import FeatureCache
from mining.classify.heads import Heads, fit_heads


def test_each_text_is_computed_once_and_kept_on_disk(tmp_path: Path) -> None:
    seen: list[str] = []

    def compute(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)

    cache = FeatureCache(tmp_path, "enc1")
    first = cache.features(["aa", "b", "aa", "cab"], compute)
    assert seen == ["aa", "b", "cab"]
    np.testing.assert_array_equal(first[:, 0], [2, 1, 2, 3])
    again = FeatureCache(tmp_path, "enc1").features(["cab", "new a"], compute)
    assert seen == ["aa", "b", "cab", "new a"]  # only the unseen text was computed
    np.testing.assert_array_equal(again, [[3, 1], [5, 1]])
    other = FeatureCache(tmp_path, "enc2")  # another encoder starts empty
    assert len(other) == 0
    assert not list(tmp_path.glob("enc1/*.tmp"))


def test_refit_heads_learn_separable_labels_and_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    sentiment = np.digitize(x[:, 0], [-0.5, 0.5])
    failure = (x[:, 1:3] > 0).astype(np.float32)
    failure_mask = np.ones_like(failure)
    failure_mask[:100, 1] = 0  # unknown for some rows: those rows are not fit
    response = (x[:, 3:4] > 1).astype(np.float32)
    heads = fit_heads(x, sentiment, failure, failure_mask, response, np.ones_like(response),
                      3, seed=1)
    heads.save(tmp_path / "heads.npz")
    loaded = Heads.load(tmp_path / "heads.npz")
    s, f, r = loaded.apply(x)
    assert (s.argmax(1) == sentiment).mean() > 0.9
    assert ((f > 0.5) == (failure > 0.5)).mean() > 0.9
    assert ((r > 0.5) == (response > 0.5)).mean() > 0.85
    np.testing.assert_allclose(s.sum(1), 1, atol=1e-5)
