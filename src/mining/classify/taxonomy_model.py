"""The classifier in the taxonomy's terms: the model's labels mapped to current ids (aliases
and merged types), plus every enabled custom type. The pipeline and `mining predict` use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from mining.classify.custom import CustomHead, custom_version, load_heads
from mining.classify.features import FeatureCache, file_digest
from mining.classify.model import ONNX_FILE, FeedbackClassifier, LabelSpace, Prediction, decode
from mining.taxonomy import Taxonomy

log = logging.getLogger("mining")


class TaxonomyClassifier:
    """`FeedbackClassifier` + taxonomy + custom heads. `version` stays the model's version;
    `custom_version` names the custom heads (stored with each prediction)."""

    def __init__(self, classifier: FeedbackClassifier, taxonomy: Taxonomy,
                 heads: dict[str, CustomHead], cache: FeatureCache | None = None) -> None:
        if classifier.heads is None and heads:
            raise ValueError(f"{classifier.version} exports no pooled features, so custom types "
                             f"({', '.join(heads)}) cannot be scored: retrain it")
        self.classifier, self.taxonomy, self.heads, self.cache = classifier, taxonomy, heads, cache
        labels = classifier.labels
        # One clear error naming the ids when the model and the taxonomy disagree.
        self.mapped = taxonomy.model_label_map(labels.failure_types, labels.responses,
                                               labels.sentiments, model=classifier.version)
        self.custom_version = custom_version(heads)

    @property
    def version(self) -> str:
        return self.classifier.version

    @property
    def labels(self) -> LabelSpace:
        return self.classifier.labels

    @property
    def builtin_ids(self) -> list[str]:
        """Current ids of what the model predicts (aliases merged), in taxonomy order."""
        present = set(self.mapped)
        return [t for t in self.taxonomy.builtin_failure_type_ids if t in present]

    @classmethod
    def load(cls, model_dir: Path, taxonomy_path: Path, heads_dir: Path,
             feature_cache_dir: Path | None = None, threads: int = 2,
             classifier: FeedbackClassifier | None = None) -> TaxonomyClassifier:
        """Load (or wrap) the model, check it against the taxonomy and load the custom heads,
        refitting those missing for this encoder. With `feature_cache_dir`, features are
        read from and added to the cache."""
        classifier = classifier or FeedbackClassifier.load(model_dir, threads)
        taxonomy = Taxonomy.load(taxonomy_path)
        needs_digest = feature_cache_dir is not None or taxonomy.custom_failure_types
        digest = file_digest(Path(model_dir) / ONNX_FILE) if needs_digest else ""
        cache = FeatureCache(feature_cache_dir, digest) if feature_cache_dir else None
        encode = classifier.pooled
        features = (lambda texts: cache.features(texts, encode)) if cache else encode
        heads = load_heads(taxonomy, heads_dir, digest, features) if digest else {}
        return cls(classifier, taxonomy, heads, cache)

    def features(self, texts: Sequence[str],
                 compute: Callable[[list[str]], np.ndarray] | None = None) -> np.ndarray:
        """Pooled features; through the cache when there is one (only new texts computed)."""
        compute = compute or self.classifier.pooled
        if self.cache is not None:
            return self.cache.features(texts, compute)
        return compute(list(texts))

    def custom_scores(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        return {name: head.scores(pooled) for name, head in self.heads.items()}

    def predict_features(self, pooled: np.ndarray, texts: Sequence[str]) -> list[Prediction]:
        """Predictions from the texts' pooled features (the model's heads, then the custom
        ones); the texts feed the heads that read n-grams."""
        if self.classifier.heads is None:
            raise ValueError(f"{self.version} has its heads inside the graph")
        return self._finish(decode(self.labels, *self.classifier.heads.apply(pooled, texts)),
                            self.custom_scores(pooled) if len(pooled) else {})

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        unique = list(dict.fromkeys(texts))  # never run the same text twice
        if self.classifier.heads is None:
            by_text = dict(zip(unique, self._finish(self.classifier.predict(unique, batch_size),
                                                    {}), strict=True))
        else:
            pooled = self.features(unique, lambda t: self.classifier.pooled(t, batch_size))
            by_text = dict(zip(unique, self.predict_features(pooled, unique), strict=True))
        return [by_text[text] for text in texts]

    def _finish(self, predictions: list[Prediction],
                custom: dict[str, np.ndarray]) -> list[Prediction]:
        out = []
        for row, p in enumerate(predictions):
            types, scores = self.taxonomy.current_labels(p.failure_types, p.failure_scores)
            for name, column in custom.items():
                score = float(column[row])
                scores[name] = score
                if score >= self.heads[name].threshold:
                    types.append(name)
            out.append(replace(p, failure_types=types, failure_scores=scores))
        return out


def relabel_scores(stored_types: Sequence[str], stored_scores: dict[str, float],
                   builtin: set[str], taxonomy: Taxonomy, custom: dict[str, float],
                   thresholds: dict[str, float]) -> tuple[list[str], dict[str, float]]:
    """A stored prediction with its custom types replaced: built-in types and scores kept (in
    current ids), every other id dropped, the enabled custom heads' scores added."""
    current_types, current_scores = taxonomy.current_labels(stored_types, stored_scores)
    types = [t for t in current_types if t in builtin]
    scores = {name: score for name, score in current_scores.items() if name in builtin}
    for name, score in custom.items():
        scores[name] = score
        if score >= thresholds[name]:
            types.append(name)
    return types, scores
