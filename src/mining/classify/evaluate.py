"""Evaluation on a labelled CSV: the same code scores the model and the baseline.

CSV columns: `text`, `sentiment` (may be empty), `failure_types` (`;`-separated ids; empty means
unlabelled, `none` means no failure), optional `response` (same convention) and `language`.
The allowed ids are the taxonomy's (`LabelIds`); old ids (aliases) count as their current id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from mining.classify.data import LabelIds


class EvaluationDataError(ValueError):
    """The evaluation file cannot be scored; the message says which rows and why."""


class PredictionLike(Protocol):
    sentiment: str
    failure_types: list[str]
    responses: list[str]


class Predictor(Protocol):
    def predict(self, texts: Sequence[str], batch_size: int = 32) -> Sequence[PredictionLike]: ...


def _parse_ids(value: object, allowed: Sequence[str], column: str, row: int,
               aliases: Mapping[str, str] | None = None) -> list[str] | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    if text == "none":
        return []
    ids = [part.strip() for part in text.split(";") if part.strip()]
    ids = [(aliases or {}).get(i, i) for i in ids]
    unknown = [i for i in ids if i not in allowed]
    if unknown:
        raise EvaluationDataError(
            f"row {row}: unknown {column} id(s) {unknown}; allowed: {', '.join(allowed)} "
            f"or 'none'")
    return ids


def load_eval_frame(path: Path, ids: LabelIds) -> pd.DataFrame:
    """Read and validate an evaluation CSV; raise EvaluationDataError with a clear reason."""
    if not path.is_file():
        raise EvaluationDataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise EvaluationDataError(f"{path}: not a readable CSV ({exc})") from exc
    if "text" not in frame.columns:
        raise EvaluationDataError(f"{path}: no `text` column (columns: {list(frame.columns)})")
    if "sentiment" not in frame.columns and "failure_types" not in frame.columns:
        raise EvaluationDataError(f"{path}: needs a `sentiment` or `failure_types` column")
    for column in ("sentiment", "failure_types", "response", "language"):
        if column not in frame.columns:
            frame[column] = ""
    bad = [i + 2 for i, s in enumerate(frame["sentiment"]) if s and s not in ids.sentiments]
    if bad:
        raise EvaluationDataError(f"{path}: sentiment must be one of {ids.sentiments} or "
                                  f"empty; bad at line(s) {bad[:10]}")
    for i, row in enumerate(frame.itertuples(index=False)):
        _parse_ids(row.failure_types, ids.failure_types, "failure_types", i + 2, ids.aliases)
        _parse_ids(row.response, ids.responses, "response", i + 2)
    return frame


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def multilabel_report(gold: list[list[str]], predicted: list[list[str]],
                      labels: Sequence[str]) -> dict[str, Any]:
    per_label = {}
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, predicted, strict=True))
        fp = sum(label not in g and label in p for g, p in zip(gold, predicted, strict=True))
        fn = sum(label in g and label not in p for g, p in zip(gold, predicted, strict=True))
        per_label[label] = _prf(tp, fp, fn) | {"n": tp + fn, "predicted": tp + fp}
    present = [label for label in labels if per_label[label]["n"] > 0]
    tp = sum(len(set(g) & set(p)) for g, p in zip(gold, predicted, strict=True))
    fp = sum(len(set(p) - set(g)) for g, p in zip(gold, predicted, strict=True))
    fn = sum(len(set(g) - set(p)) for g, p in zip(gold, predicted, strict=True))
    named = [x for x in present if x != "other"]  # `other` is "cannot tell", not a type
    return {
        "n_texts": len(gold),
        "macro_f1": round(sum(per_label[x]["f1"] for x in present) / len(present), 4)
        if present else None,
        "macro_f1_named": round(sum(per_label[x]["f1"] for x in named) / len(named), 4)
        if named else None,
        "types_present": present,
        "micro": _prf(tp, fp, fn),
        "per_label": per_label,
    }


def sentiment_report(gold: list[str], predicted: list[str],
                     sentiments: Sequence[str]) -> dict[str, Any]:
    per_class = {}
    for label in sentiments:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        per_class[label] = _prf(tp, fp, fn) | {"n": tp + fn}
    present = [label for label in sentiments if per_class[label]["n"] > 0]
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return {
        "n": len(gold),
        "accuracy": round(correct / len(gold), 4) if gold else None,
        "macro_f1": round(sum(per_class[x]["f1"] for x in present) / len(present), 4)
        if present else None,
        "per_class": per_class,
    }


def evaluate_frame(predictor: Predictor, frame: pd.DataFrame, ids: LabelIds,
                   batch_size: int = 32) -> dict[str, Any]:
    """Scores for every labelled part of the frame (rows with empty labels are skipped)."""
    predictions = predictor.predict(list(frame["text"]), batch_size=batch_size)
    result: dict[str, Any] = {"n_rows": len(frame)}
    sentiment_rows = [i for i, s in enumerate(frame["sentiment"]) if s]
    if sentiment_rows:
        result["sentiment"] = sentiment_report(
            [frame["sentiment"].iloc[i] for i in sentiment_rows],
            [predictions[i].sentiment for i in sentiment_rows], ids.sentiments)
    failure_gold = [_parse_ids(v, ids.failure_types, "failure_types", i + 2, ids.aliases)
                    for i, v in enumerate(frame["failure_types"])]
    rows = [i for i, g in enumerate(failure_gold) if g is not None]
    if rows:
        # A custom type is scored only where the file labels it at least once: older labelled
        # sets never name it, and its predictions would count as false positives there.
        named = {t for i in rows for t in failure_gold[i] or []}
        scored = [t for t in ids.failure_types if t not in ids.custom or t in named]
        result["failure_types"] = multilabel_report(
            [failure_gold[i] or [] for i in rows],
            [[t for t in predictions[i].failure_types if t in scored] for i in rows], scored)
    response_gold = [_parse_ids(v, ids.responses, "response", i + 2)
                     for i, v in enumerate(frame["response"])]
    rows = [i for i, g in enumerate(response_gold) if g is not None]
    if rows:
        result["response"] = multilabel_report(
            [response_gold[i] or [] for i in rows],
            [list(predictions[i].responses) for i in rows], ids.responses)
    return result


def evaluate_file(predictor: Predictor, data: Path, ids: LabelIds, json_out: Path | None = None,
                  batch_size: int = 32) -> dict[str, Any]:
    result = evaluate_frame(predictor, load_eval_frame(data, ids), ids, batch_size)
    result["data"] = str(data)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def headline(result: dict[str, Any]) -> dict[str, float | None]:
    """The figures a card or a summary table shows first."""
    out: dict[str, float | None] = {}
    if "sentiment" in result:
        out["sentiment_accuracy"] = result["sentiment"]["accuracy"]
        out["sentiment_macro_f1"] = result["sentiment"]["macro_f1"]
    if "failure_types" in result:
        out["failure_macro_f1"] = result["failure_types"]["macro_f1"]
    if "response" in result:
        out["response_micro_precision"] = result["response"]["micro"]["precision"]
        out["response_micro_recall"] = result["response"]["micro"]["recall"]
    return out
