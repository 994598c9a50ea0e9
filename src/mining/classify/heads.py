"""The output heads on pooled features: stored beside the encoder, refit without it.

The ONNX encoder returns one pooled vector per text; the three heads (sentiment softmax,
failure-type and response sigmoids) are small linear maps applied in NumPy. Keeping them out of
the graph lets `mining train --heads-only` refit them on cached features in seconds and write a
new model that shares the encoder file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEADS_FILE = "heads.npz"
KINDS = ("sentiment", "failure", "response")


@dataclass
class Heads:
    """Weights (labels × features) and biases of each head."""

    weights: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]

    def apply(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits = {k: pooled @ self.weights[k].T + self.biases[k] for k in KINDS}
        s = logits["sentiment"] - logits["sentiment"].max(axis=1, keepdims=True)
        s = np.exp(s)
        s /= s.sum(axis=1, keepdims=True)
        return (s.astype(np.float32), _sigmoid(logits["failure"]).astype(np.float32),
                _sigmoid(logits["response"]).astype(np.float32))

    def save(self, path: Path) -> None:
        arrays = {f"{k}_weight": self.weights[k] for k in KINDS}
        arrays |= {f"{k}_bias": self.biases[k] for k in KINDS}
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> Heads:
        with np.load(path) as data:
            return cls({k: data[f"{k}_weight"].astype(np.float32) for k in KINDS},
                       {k: data[f"{k}_bias"].astype(np.float32) for k in KINDS})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def fit_logistic(features: np.ndarray, target: np.ndarray, seed: int, c: float = 1.0,
                 balanced: bool = True) -> tuple[np.ndarray, np.ndarray]:
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
              response_c: float | None = None) -> Heads:
    """Refit every head on fixed features; a label is fit on the rows where it is known
    (sentiment -1 and mask 0 mean unknown), as in training. `response_c` regularises the
    response heads apart (default `c`)."""
    from sklearn.linear_model import LogisticRegression

    rows = sentiment >= 0
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit(features[rows], sentiment[rows])
    weights = {"sentiment": np.zeros((n_sentiments, features.shape[1]), np.float32)}
    biases = {"sentiment": np.full(n_sentiments, -10.0, np.float32)}
    for row, label in enumerate(model.classes_):
        weights["sentiment"][int(label)] = model.coef_[row] if len(model.classes_) > 2 else (
            model.coef_[0] * (1 if row else -1) / 2)
        biases["sentiment"][int(label)] = model.intercept_[row] if len(model.classes_) > 2 else (
            model.intercept_[0] * (1 if row else -1) / 2)
    for kind, target, mask, kind_c in (("failure", failure, failure_mask, c),
                                       ("response", response, response_mask,
                                        c if response_c is None else response_c)):
        w, b = zip(*(fit_logistic(features[mask[:, j] > 0], target[mask[:, j] > 0, j], seed,
                                  kind_c) for j in range(target.shape[1])), strict=True)
        weights[kind], biases[kind] = np.stack(w), np.array(b, np.float32)
    return Heads(weights, biases)


def from_linear(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> Heads:
    """Heads from the trained network's three linear layers (sentiment, failure, response)."""
    return Heads({k: w.astype(np.float32) for k, (w, _) in zip(KINDS, layers, strict=True)},
                 {k: b.astype(np.float32) for k, (_, b) in zip(KINDS, layers, strict=True)})
