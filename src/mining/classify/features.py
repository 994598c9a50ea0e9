"""Feature cache: one pooled vector per text and encoder, so nothing is encoded twice.

Vectors are keyed by a hash of the text and stored in Parquet part files under
`<root>/<encoder digest>/`, one part per batch of new texts (appending never rewrites what is
there). The encoder digest is the hash of the ONNX file, so a retrained encoder starts a fresh
cache while a heads-only refit, which keeps the encoder file, reuses it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mining.classify.heads import Heads
from mining.classify.model import FeedbackClassifier, LabelSpace, Prediction, decode
from mining.progress import progress_bar

log = logging.getLogger("mining")
CHUNK = 4096  # texts per part file: a killed encode keeps what it finished


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


class FeatureCache:
    """Pooled features of one encoder, read once and extended as new texts come."""

    def __init__(self, root: Path, encoder_digest: str) -> None:
        self.folder = root / encoder_digest
        self.vectors: dict[str, np.ndarray] = {}
        for part in sorted(self.folder.glob("part-*.parquet")):
            table = pq.read_table(part)
            keys = table.column("key").to_pylist()
            matrix = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
            self.vectors.update(zip(keys, matrix.astype(np.float32), strict=True))

    def __len__(self) -> int:
        return len(self.vectors)

    def features(self, texts: Sequence[str],
                 compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors in input order; only texts never seen are computed (and stored)."""
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.vectors))
        if missing:
            first_text = dict(zip(keys, texts, strict=True))
            with progress_bar(len(missing), "encoding texts new to the feature cache") as advance:
                for start in range(0, len(missing), CHUNK):
                    chunk = missing[start:start + CHUNK]
                    self._append(chunk, compute([first_text[k] for k in chunk]))
                    advance(len(chunk))
        log.info("feature cache: %d texts, %d computed, %d reused", len(texts), len(missing),
                 len(set(keys)) - len(missing))
        return np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, 0))

    def _append(self, keys: list[str], matrix: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        number = len(list(self.folder.glob("part-*.parquet")))
        table = pa.table({"key": keys,
                          "vector": pa.array(list(matrix.astype(np.float32)),
                                             type=pa.list_(pa.float32()))})
        target = self.folder / f"part-{number:05d}.parquet"
        temporary = target.with_suffix(".tmp")
        pq.write_table(table, temporary)
        temporary.rename(target)  # a killed write leaves no half part behind
        self.vectors.update(zip(keys, matrix.astype(np.float32), strict=True))


class CachedPredictor:
    """A model's heads over cached pooled features: the same scores as the ONNX model (the
    features are its own), computed once per text however often heads and thresholds change."""

    def __init__(self, classifier: FeedbackClassifier, heads: Heads, labels: LabelSpace,
                 cache: FeatureCache) -> None:
        self.classifier, self.heads, self.labels, self.cache = classifier, heads, labels, cache

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.features(texts, self.classifier.pooled)

    def probabilities(self, texts: Sequence[str], batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.heads.apply(self.features(texts), texts)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        return decode(self.labels, *self.probabilities(texts, batch_size))
