"""Evaluation arithmetic on a tiny hand-made file, and clear errors for malformed files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mining.classify.data import LabelIds
from mining.classify.evaluate import EvaluationDataError, evaluate_file, load_eval_frame

REPO = Path(__file__).resolve().parents[2]
IDS = LabelIds.load(REPO / "config" / "taxonomy.yaml")


@dataclass
class Fixed:
    sentiment: str
    failure_types: list[str]
    responses: list[str]


class LookupPredictor:
    """Returns fixed answers per text, so the expected metrics can be worked out by hand."""

    def __init__(self, answers: dict[str, Fixed]) -> None:
        self.answers = answers

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Fixed]:
        return [self.answers[t] for t in texts]


CSV = """text,sentiment,failure_types,response,language
a,negative,waiting,exit,en
b,negative,waiting;staff_attitude,none,en
c,positive,none,none,en
d,neutral,,,en
e,,price_billing,voice,zh
"""

ANSWERS = {
    "a": Fixed("negative", ["waiting"], ["exit"]),
    "b": Fixed("neutral", ["waiting"], ["voice"]),
    "c": Fixed("positive", ["waiting"], []),
    "d": Fixed("neutral", [], []),
    "e": Fixed("negative", ["price_billing"], []),
}


def test_known_metrics(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text(CSV, encoding="utf-8")
    result = evaluate_file(LookupPredictor(ANSWERS), path, IDS, tmp_path / "out.json")
    assert (tmp_path / "out.json").is_file()
    s = result["sentiment"]
    # 4 rows with sentiment: a right, b wrong (neutral for negative), c right, d right.
    assert s["n"] == 4 and s["accuracy"] == 0.75
    # negative: P 1/1, R 1/2 -> F1 0.6667; neutral: P 1/2, R 1/1 -> 0.6667; positive: 1.0
    assert s["per_class"]["negative"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "n": 2}
    assert s["macro_f1"] == round((0.6667 + 0.6667 + 1.0) / 3, 4)
    f = result["failure_types"]
    # rows a, b, c, e are labelled (d is empty = unlabelled).
    assert f["n_texts"] == 4
    # waiting: tp a, b; fp c -> P 2/3, R 1; staff_attitude: fn b -> 0; price_billing: tp e.
    assert f["per_label"]["waiting"]["precision"] == 0.6667
    assert f["per_label"]["waiting"]["recall"] == 1.0
    assert f["per_label"]["staff_attitude"]["f1"] == 0.0
    assert f["per_label"]["price_billing"]["f1"] == 1.0
    assert f["types_present"] == ["staff_attitude", "waiting", "price_billing"]
    assert f["macro_f1"] == round((0.0 + 0.8 + 1.0) / 3, 4)
    r = result["response"]
    # exit: tp a; voice: fp b, fn e.
    assert r["per_label"]["exit"]["f1"] == 1.0
    assert r["per_label"]["voice"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "n": 1,
                                       "predicted": 1}
    assert r["micro"]["precision"] == 0.5


@pytest.mark.parametrize(("content", "message"), [
    ("words,sentiment\nhello,positive\n", "no `text` column"),
    ("text,sentiment\nhello,happy\n", "sentiment must be one of"),
    ("text,failure_types\nhello,waiting;lateness\n", "unknown failure_types id(s) ['lateness']"),
    ("text,sentiment,response\nhello,positive,shouting\n", "unknown response id(s)"),
    ("text,language\nhello,en\n", "needs a `sentiment` or `failure_types` column"),
    ("", "not a readable CSV"),
])
def test_malformed_files_get_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvaluationDataError) as error:
        load_eval_frame(path, IDS)
    assert message in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationDataError, match="file not found"):
        load_eval_frame(tmp_path / "nope.csv", IDS)
