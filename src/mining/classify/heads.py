"""The output heads on pooled features: stored beside the encoder, refit without it.

The ONNX encoder returns one pooled vector per text; the three heads (sentiment softmax,
failure-type and response sigmoids) are small linear maps applied in NumPy. Keeping them out of
the graph lets `mining train --heads-only` refit them on cached features in seconds and write a
new model that shares the encoder file. The response heads may also read the text's TF-IDF
n-grams (`lexical.py`): then `apply` needs the texts as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from mining.classify.lexical import LEXICAL_FILE, LexicalFeatures

HEADS_FILE = "heads.npz"
KINDS = ("sentiment", "failure", "response")


@dataclass
class Heads:
    """Weights (labels × features) and biases of each head; with `lexical`, the response
    heads add `response_lexical` (responses × n-grams) times the text's TF-IDF vector."""

    weights: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]
    lexical: LexicalFeatures | None = None
    response_lexical: np.ndarray | None = None

    def apply(self, pooled: np.ndarray, texts: Sequence[str] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits = {k: pooled @ self.weights[k].T + self.biases[k] for k in KINDS}
        if self.lexical is not None and self.response_lexical is not None:
            if texts is None or len(texts) != len(pooled):
                raise ValueError("these response heads read the texts too: pass one text per "
                                 "row of features")
            if len(texts):
                logits["response"] = logits["response"] + np.asarray(
                    self.lexical.transform(texts) @ self.response_lexical.T)
        s = logits["sentiment"] - logits["sentiment"].max(axis=1, keepdims=True)
        s = np.exp(s)
        s /= s.sum(axis=1, keepdims=True)
        return (s.astype(np.float32), _sigmoid(logits["failure"]).astype(np.float32),
                _sigmoid(logits["response"]).astype(np.float32))

    def save(self, path: Path) -> None:
        arrays = {f"{k}_weight": self.weights[k] for k in KINDS}
        arrays |= {f"{k}_bias": self.biases[k] for k in KINDS}
        if self.lexical is not None and self.response_lexical is not None:
            arrays["response_lexical_weight"] = self.response_lexical
            self.lexical.save(path.parent / LEXICAL_FILE)
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> Heads:
        with np.load(path) as data:
            weights = {k: data[f"{k}_weight"].astype(np.float32) for k in KINDS}
            biases = {k: data[f"{k}_bias"].astype(np.float32) for k in KINDS}
            lexical_weight = (data["response_lexical_weight"].astype(np.float32)
                              if "response_lexical_weight" in data else None)
        lexical = LexicalFeatures.load(path.parent / LEXICAL_FILE) if lexical_weight is not None \
            else None
        return cls(weights, biases, lexical, lexical_weight)

    def with_kinds(self, other: Heads, kinds: set[str]) -> Heads:
        """These heads with the kinds in `kinds` taken from `other` (the response kind brings
        its n-gram part along)."""
        pick = {k: (other if k in kinds else self) for k in KINDS}
        source = pick["response"]
        return Heads({k: pick[k].weights[k] for k in KINDS}, {k: pick[k].biases[k] for k in KINDS},
                     source.lexical, source.response_lexical)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def fit_logistic(features: np.ndarray | sparse.csr_matrix, target: np.ndarray, seed: int,
                 c: float = 1.0, balanced: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One binary logistic regression; returns (weight row, bias)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(target.tolist())) < 2:  # nothing to learn: a constant, very unsure head
        value = 1.0 if target.size and target[0] == 1 else 0.0
        return np.zeros(features.shape[1], np.float32), np.array(4.0 * value - 2.0, np.float32)
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if balanced else None,
                               random_state=seed)
    model.fit(features, target)
    return model.coef_[0].astype(np.float32), np.array(model.intercept_[0], np.float32)


def fit_heads(features: np.ndarray, sentiment: np.ndarray, failure: np.ndarray,
              failure_mask: np.ndarray, response: np.ndarray, response_mask: np.ndarray,
              n_sentiments: int, seed: int, c: float = 1.0,
              response_c: float | None = None,
              lexical: tuple[LexicalFeatures, sparse.csr_matrix] | None = None,
              pooled_scale: float = 0.5, fit_sentiment: bool = True) -> Heads:
    """Refit every head on fixed features; a label is fit on the rows where it is known
    (sentiment -1 and mask 0 mean unknown), as in training. `response_c` regularises the
    response heads apart (default `c`). With `lexical` (the vectoriser and the rows' TF-IDF
    matrix), each response head is one regression on [pooled_scale × pooled, TF-IDF].
    Without `fit_sentiment` the sentiment head is a placeholder, for a caller that keeps its
    own."""
    from sklearn.linear_model import LogisticRegression

    weights = {"sentiment": np.zeros((n_sentiments, features.shape[1]), np.float32)}
    biases = {"sentiment": np.full(n_sentiments, -10.0, np.float32)}
    if fit_sentiment:
        rows = sentiment >= 0
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(features[rows], sentiment[rows])
        multi = len(model.classes_) > 2
        for row, label in enumerate(model.classes_):
            weights["sentiment"][int(label)] = model.coef_[row] if multi else (
                model.coef_[0] * (1 if row else -1) / 2)
            biases["sentiment"][int(label)] = model.intercept_[row] if multi else (
                model.intercept_[0] * (1 if row else -1) / 2)
    w, b = zip(*(fit_logistic(features[failure_mask[:, j] > 0],
                              failure[failure_mask[:, j] > 0, j], seed, c)
                 for j in range(failure.shape[1])), strict=True)
    weights["failure"], biases["failure"] = np.stack(w), np.array(b, np.float32)
    # With n-grams, one regression per response on [pooled_scale × pooled, TF-IDF], split after.
    inputs = features if lexical is None else sparse.hstack(
        [sparse.csr_matrix(features * pooled_scale), lexical[1]], format="csr")
    w, b = zip(*(fit_logistic(inputs[response_mask[:, j] > 0],
                              response[response_mask[:, j] > 0, j], seed,
                              c if response_c is None else response_c)
                 for j in range(response.shape[1])), strict=True)
    stacked, biases["response"] = np.stack(w), np.array(b, np.float32)
    if lexical is None:
        weights["response"] = stacked
        return Heads(weights, biases)
    width = features.shape[1]
    weights["response"] = (stacked[:, :width] * pooled_scale).astype(np.float32)
    return Heads(weights, biases, lexical[0], stacked[:, width:].astype(np.float32))


def from_linear(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> Heads:
    """Heads from the trained network's three linear layers (sentiment, failure, response)."""
    return Heads({k: w.astype(np.float32) for k, (w, _) in zip(KINDS, layers, strict=True)},
                 {k: b.astype(np.float32) for k, (_, b) in zip(KINDS, layers, strict=True)})
