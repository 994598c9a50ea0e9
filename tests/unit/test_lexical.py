"""Response heads that read n-grams: fit, save and load give the same scores, and the phrase a
customer uses to say they leave is heard even where the pooled features carry nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mining.classify.heads import Heads, fit_heads
from mining.classify.lexical import LEXICAL_FILE, LexicalFeatures

LEAVING = ["never coming back to this place", "we will never come back, awful",
           "不会再来了 太差", "worst stay, never coming back", "我再也不会来了"]
STAYING = ["the room was clean and quiet", "dinner was fine, staff friendly",
           "房间很干净 服务好", "great location near the station", "breakfast was cold today"]


def data(copies: int = 8) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts = [f"{t} #{i}" for i in range(copies) for t in LEAVING + STAYING]
    exit_ = np.array([[1.0] if t.split(" #")[0] in LEAVING else [0.0] for t in texts])
    pooled = np.random.default_rng(0).normal(size=(len(texts), 6)).astype(np.float32)
    return texts, pooled, exit_  # the pooled features are noise: only the words tell


def fit(texts: list[str], pooled: np.ndarray, exit_: np.ndarray,
        lexical: bool) -> Heads:
    sentiment = np.zeros(len(texts), dtype=int)
    sentiment[: len(texts) // 2] = 1
    failure = (pooled[:, :1] > 0).astype(np.float32)
    fitted = LexicalFeatures.fit_transform(texts, min_df=1)
    np.testing.assert_allclose(fitted[1].toarray(), fitted[0].transform(texts).toarray())
    return fit_heads(pooled, sentiment, failure, np.ones_like(failure), exit_,
                     np.ones_like(exit_), 2, seed=1, c=1.0, response_c=4.0,
                     lexical=fitted if lexical else None)


def test_n_gram_response_heads_hear_the_phrase_and_round_trip(tmp_path: Path) -> None:
    texts, pooled, exit_ = data()
    heads = fit(texts, pooled, exit_, lexical=True)
    _, _, with_words = heads.apply(pooled, texts)
    _, _, pooled_only = fit(texts, pooled, exit_, lexical=False).apply(pooled)
    truth = exit_[:, 0] > 0.5
    assert ((with_words[:, 0] > 0.5) == truth).mean() == 1.0
    assert ((pooled_only[:, 0] > 0.5) == truth).mean() < 0.9
    # A text it never saw, in both languages.
    unseen = ["honestly never coming back", "以后不会再来了"]
    _, _, scores = heads.apply(np.zeros((2, 6), np.float32), unseen)
    assert (scores[:, 0] > 0.5).all()

    heads.save(tmp_path / "heads.npz")
    assert (tmp_path / LEXICAL_FILE).is_file()
    loaded = Heads.load(tmp_path / "heads.npz")
    for a, b in zip(loaded.apply(pooled, texts), heads.apply(pooled, texts), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="read the texts too"):
        loaded.apply(pooled)


def test_taking_other_kinds_keeps_the_n_gram_part_with_the_response_heads() -> None:
    texts, pooled, exit_ = data(2)
    lexical = fit(texts, pooled, exit_, lexical=True)
    plain = fit(texts, pooled, exit_, lexical=False)
    assert plain.with_kinds(lexical, {"response"}).lexical is lexical.lexical
    assert plain.with_kinds(lexical, {"failure"}).lexical is None
    kept = lexical.with_kinds(plain, {"failure"})
    assert kept.lexical is lexical.lexical
    assert np.array_equal(kept.weights["failure"], plain.weights["failure"])
