"""The classifier at run time: tokenisation, the int8 ONNX encoder and the heads.

Training uses the torch network (`network.py`); the shipped artefact is its encoder exported to
ONNX and quantised to int8 (`export.py`), with the heads beside it (`heads.py`), run with ONNX
Runtime: small enough for git and fast on CPU. `FeedbackClassifier` owns predict / save / load.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mining.classify.heads import HEADS_FILE, Heads

log = logging.getLogger("mining")

ONNX_FILE = "model.int8.onnx"
LABELS_FILE = "labels.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "char_map.json")


@dataclass
class Prediction:
    sentiment: str
    sentiment_score: float
    sentiment_scores: dict[str, float]
    failure_types: list[str]
    failure_scores: dict[str, float]
    responses: list[str]
    response_scores: dict[str, float]


@dataclass
class LabelSpace:
    """Label ids, decision thresholds and the tokenisation settings saved with a model."""

    name: str
    version: str
    sentiments: list[str]
    failure_types: list[str]
    responses: list[str]
    failure_thresholds: dict[str, float]
    response_thresholds: dict[str, float]
    max_length: int = 128
    # "head" keeps the first max_length tokens; "head_tail" keeps the first `head_tokens` and
    # the last ones, where long reviews put their verdict ("never again", "不会再来").
    truncation: str = "head"
    head_tokens: int = 64
    # Labels whose head did not learn (F1 below the bar on held-out dev text): never predicted
    # and left out of the scores, rather than printing a made-up number.
    disabled: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> LabelSpace:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2), encoding="utf-8")


class TextEncoder:
    """Tokeniser with the base model's character map; truncates, never fails on odd text."""

    def __init__(self, model_dir: Path, max_length: int, truncation: str = "head",
                 head_tokens: int = 64) -> None:
        from tokenizers import Tokenizer

        if truncation not in ("head", "head_tail"):
            raise ValueError(f"truncation must be 'head' or 'head_tail', not {truncation!r}")
        if truncation == "head_tail" and not 0 < head_tokens < max_length:
            raise ValueError(f"head_tokens must be between 1 and {max_length - 1}")
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.max_length, self.truncation, self.head_tokens = max_length, truncation, head_tokens
        if truncation == "head":
            self.tokenizer.enable_truncation(max_length)
        else:
            self.tokenizer.no_truncation()
        raw = json.loads((model_dir / "char_map.json").read_text(encoding="utf-8"))
        self.char_map = {int(k): v for k, v in raw.items()}
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.pad_id = self.tokenizer.token_to_id(config["pad_token"])

    def _prepare(self, text: str) -> str:
        text = (text or "").translate(self.char_map)
        # Head and tail need only the ends of a very long text: never tokenise megabytes.
        keep = self.max_length * 8
        if self.truncation == "head_tail" and len(text) > 2 * keep:
            text = text[:keep] + " " + text[-keep:]
        return text

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = [e.ids for e in self.tokenizer.encode_batch([self._prepare(t) for t in texts])]
        if self.truncation == "head":
            return encoded
        limit, head = self.max_length, self.head_tokens
        return [ids if len(ids) <= limit else ids[:head] + ids[len(ids) - (limit - head):]
                for ids in encoded]

    @classmethod
    def for_labels(cls, model_dir: Path, labels: LabelSpace) -> TextEncoder:
        return cls(model_dir, labels.max_length, labels.truncation, labels.head_tokens)

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return input_ids, mask


def length_sorted_batches(lengths: Sequence[int], batch_size: int,
                          max_tokens: int = 8192) -> list[list[int]]:
    """Indices grouped by similar length (less padding); a batch holds ≤ max_tokens tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) >= batch_size
                        or lengths[index] * (len(current) + 1) > max_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class FeedbackClassifier:
    """Inference with the int8 ONNX model. `predict` keeps the input order."""

    def __init__(self, model_dir: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        self.model_dir = Path(model_dir)
        self.labels = LabelSpace.load(self.model_dir / LABELS_FILE)
        self.text_encoder = TextEncoder.for_labels(self.model_dir, self.labels)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: beside DuckDB, ingest or a second process on
        # 2 cores, spinning threads take the cores the others need (1,500 tweets, two processes
        # at once: 21.1 s each against 26.6; one alone: 11.0 s against 12.6).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.model_dir / ONNX_FILE), options,
                                            providers=["CPUExecutionProvider"])
        # Models before 2026-12 carry their heads inside the graph and have no heads file.
        heads = self.model_dir / HEADS_FILE
        self.heads = Heads.load(heads) if heads.is_file() else None

    @property
    def version(self) -> str:
        return f"{self.labels.name}/{self.labels.version}"

    @classmethod
    def load(cls, model_dir: Path | str, threads: int = 2) -> FeedbackClassifier:
        model_dir = Path(model_dir)
        missing = [f for f in (ONNX_FILE, LABELS_FILE, *TOKENIZER_FILES)
                   if not (model_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{model_dir} is not a classifier directory; missing "
                                    f"{', '.join(missing)}")
        return cls(model_dir, threads)

    def save(self, target: Path | str) -> Path:
        """Copy the artefact (ONNX, tokenizer, labels, card) to another directory."""
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        for path in self.model_dir.iterdir():
            if path.is_file():
                shutil.copy2(path, target / path.name)
        return target

    def outputs(self, texts: Sequence[str], batch_size: int = 32,
                scores: bool = True) -> dict[str, np.ndarray]:
        """Sentiment, failure and response probabilities, and the pooled features when the
        model has a heads file; one row per text, input order. `scores=False` leaves the
        heads out (their n-grams cost time when only the features are wanted)."""
        names = [o.name for o in self.session.get_outputs()]
        widths = {"sentiment": len(self.labels.sentiments),
                  "failure": len(self.labels.failure_types),
                  "response": len(self.labels.responses)}
        out = {name: np.zeros((len(texts), widths.get(name) or int(o.shape[-1])),
                              dtype=np.float32)
               for name, o in zip(names, self.session.get_outputs(), strict=True)}
        if texts:
            ids = self.text_encoder.encode(texts)
            for batch in length_sorted_batches([len(x) for x in ids], batch_size):
                input_ids, mask = self.text_encoder.pad([ids[i] for i in batch])
                results = self.session.run(names, {"input_ids": input_ids,
                                                   "attention_mask": mask})
                for name, value in zip(names, results, strict=True):
                    out[name][batch] = value
        if self.heads is not None and scores:
            out["sentiment"], out["failure"], out["response"] = self.heads.apply(out["pooled"],
                                                                                 texts)
        return out

    def pooled(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """The encoder's pooled features (what the heads and the feature cache use)."""
        if self.heads is None:
            raise ValueError(f"{self.version} has its heads inside the graph and exports no "
                             "features: retrain it with `mining train`")
        return self.outputs(texts, batch_size, scores=False)["pooled"]

    def probabilities(self, texts: Sequence[str], batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sentiment, failure and response probabilities, one row per text, input order."""
        out = self.outputs(texts, batch_size)
        return out["sentiment"], out["failure"], out["response"]

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        unique = list(dict.fromkeys(texts))  # never run the same text twice
        s, f, r = self.probabilities(unique, batch_size)
        by_text = dict(zip(unique, decode(self.labels, s, f, r), strict=True))
        return [by_text[text] for text in texts]


def decode(labels: LabelSpace, s: np.ndarray, f: np.ndarray, r: np.ndarray) -> list[Prediction]:
    """Probabilities to predictions: thresholds applied, disabled labels left out."""
    off = set(labels.disabled)
    failure_columns = [(j, t) for j, t in enumerate(labels.failure_types) if t not in off]
    response_columns = [(j, t) for j, t in enumerate(labels.responses) if t not in off]
    out = []
    for row in range(len(s)):
        best = int(s[row].argmax())
        fscores = {t: float(f[row, j]) for j, t in failure_columns}
        rscores = {t: float(r[row, j]) for j, t in response_columns}
        out.append(Prediction(
            sentiment=labels.sentiments[best], sentiment_score=float(s[row, best]),
            sentiment_scores={t: float(s[row, j]) for j, t in enumerate(labels.sentiments)},
            failure_types=[t for t, p in fscores.items()
                           if p >= labels.failure_thresholds.get(t, 0.5)],
            failure_scores=fscores,
            responses=[t for t, p in rscores.items()
                       if p >= labels.response_thresholds.get(t, 0.5)],
            response_scores=rscores,
        ))
    return out


def is_model_dir(path: Path) -> bool:
    return (path / ONNX_FILE).is_file() and (path / LABELS_FILE).is_file()


def default_model_path(models_dir: Path) -> Path:
    """The newest good model: `models/DEFAULT` names it, else the newest model directory."""
    pointer = models_dir / "DEFAULT"
    if pointer.is_file():
        chosen = models_dir / pointer.read_text(encoding="utf-8").strip()
        if is_model_dir(chosen):
            return chosen
        raise FileNotFoundError(f"{pointer} names {chosen}, which is not a model directory")
    candidates = sorted((p for p in models_dir.glob("*/*") if is_model_dir(p)),
                        key=lambda p: p.name)
    if not candidates:
        raise FileNotFoundError(f"no trained model under {models_dir}: run `mining train`")
    return candidates[-1]


def load_classifier(model_path: Path | None, models_dir: Path,
                    threads: int = 2) -> FeedbackClassifier:
    path = model_path or default_model_path(models_dir)
    log.info("loading classifier from %s", path)
    return FeedbackClassifier.load(path, threads)
