"""The baseline a user would otherwise pick: TF-IDF + logistic regression, same data and heads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from mining.classify.data import Example, LabelIds
from mining.classify.lexical import LexicalFeatures


def baseline_key(data_files: Any, ids: LabelIds, seed: int, train: Sequence[Example]) -> str:
    """What the baseline's figures depend on: the data files, the training rows and their labels
    (corrections change labels, not rows), the label ids, the seed and this module's code. Two
    trainings with the same key fit the same baseline."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(json.dumps([data_files, ids.sentiments, ids.failure_types, ids.responses,
                              seed], sort_keys=True, default=str).encode())
    for e in train:
        digest.update(json.dumps([e.uid, e.text, e.sentiment, e.failures, e.responses],
                                 sort_keys=True).encode())
    return digest.hexdigest()[:16]


@dataclass
class BaselinePrediction:
    sentiment: str
    failure_types: list[str]
    responses: list[str]


class TfidfBaseline:
    """Word and character n-grams (characters carry Chinese), one LR per head / label."""

    def __init__(self, seed: int, ids: LabelIds) -> None:
        self.ids = ids
        self.features: LexicalFeatures | None = None
        self.seed = seed
        self.sentiment: LogisticRegression | None = None
        self.failure: dict[str, LogisticRegression | None] = {}
        self.response: dict[str, LogisticRegression | None] = {}

    def _fit_binary(self, x: object, rows: list[int],
                    targets: list[int]) -> LogisticRegression | None:
        if len(set(targets)) < 2:
            return None
        model = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced",
                                   random_state=self.seed)
        model.fit(x[rows], targets)  # type: ignore[index]
        return model

    def fit(self, examples: Sequence[Example]) -> TfidfBaseline:
        texts = [e.text for e in examples]
        self.features, x = LexicalFeatures.fit_transform(texts)
        rows = [i for i, e in enumerate(examples) if e.sentiment]
        self.sentiment = LogisticRegression(max_iter=2000, C=4.0, random_state=self.seed)
        self.sentiment.fit(x[rows], [examples[i].sentiment for i in rows])
        for label in self.ids.failure_types:
            known = [i for i, e in enumerate(examples) if label in e.failures]
            self.failure[label] = self._fit_binary(
                x, known, [examples[i].failures[label] for i in known])
        for label in self.ids.responses:
            known = [i for i, e in enumerate(examples) if label in e.responses]
            self.response[label] = self._fit_binary(
                x, known, [examples[i].responses[label] for i in known])
        return self

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[BaselinePrediction]:
        assert self.sentiment is not None and self.features is not None, "fit the baseline first"
        x = self.features.transform(list(texts))
        sentiments = self.sentiment.predict(x)

        def positive(models: dict[str, LogisticRegression | None]) -> dict[str, np.ndarray]:
            return {label: (m.predict_proba(x)[:, 1] >= 0.5) if m is not None
                    else np.zeros(len(texts), dtype=bool) for label, m in models.items()}

        failures = positive(self.failure)
        responses = positive(self.response)
        return [BaselinePrediction(
            str(sentiments[i]),
            [label for label in self.ids.failure_types if failures[label][i]],
            [label for label in self.ids.responses if responses[label][i]],
        ) for i in range(len(texts))]
