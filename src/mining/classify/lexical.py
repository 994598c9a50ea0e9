"""TF-IDF word and character n-grams: the baseline's features, and a second input of the
response heads.

Customers say they leave or warn others in set phrases ("never again", "told all my friends",
"不会再来"). A response head that reads these n-grams beside the encoder's pooled features
finds more of them on domains it never saw (`bench/heads_domain_holdout.py`), while n-grams
alone do worse. The fitted vocabularies and idf weights are saved as JSON beside the heads;
`load` rebuilds the same vectorisers, so nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

LEXICAL_FILE = "lexical.json"
MAX_FEATURES = 100_000  # per analyser


def _settings() -> dict[str, dict[str, Any]]:
    """Words (1-2 grams) and characters within word bounds (1-3 grams: they carry Chinese)."""
    return {
        "words": {"ngram_range": (1, 2), "sublinear_tf": True},
        "chars": {"analyzer": "char_wb", "ngram_range": (1, 3), "sublinear_tf": True},
    }


class LexicalFeatures:
    """Fitted word and character TF-IDF vectorisers; `transform` stacks their columns."""

    def __init__(self, vectorisers: dict[str, TfidfVectorizer]) -> None:
        self.vectorisers = vectorisers

    @classmethod
    def fit_transform(cls, texts: Sequence[str], min_df: int = 2,
                      max_features: int = MAX_FEATURES
                      ) -> tuple[LexicalFeatures, sparse.csr_matrix]:
        """Fitted features and the texts' matrix, reading each text once."""
        vectorisers = {name: TfidfVectorizer(min_df=min_df, max_features=max_features,
                                             **options)
                       for name, options in _settings().items()}
        parts = [v.fit_transform(list(texts)) for v in vectorisers.values()]
        return cls(vectorisers), sparse.hstack(parts, format="csr")

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.hstack([v.transform(list(texts)) for v in self.vectorisers.values()],
                             format="csr")

    def save(self, path: Path) -> None:
        data = {name: {"vocabulary": {term: int(i) for term, i in v.vocabulary_.items()},
                       "idf": [float(x) for x in v.idf_]}
                for name, v in self.vectorisers.items()}
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LexicalFeatures:
        data = json.loads(path.read_text(encoding="utf-8"))
        vectorisers = {}
        for name, options in _settings().items():
            vectoriser = TfidfVectorizer(vocabulary=data[name]["vocabulary"], **options)
            vectoriser.idf_ = np.asarray(data[name]["idf"], dtype=np.float64)
            vectorisers[name] = vectoriser
        return cls(vectorisers)
