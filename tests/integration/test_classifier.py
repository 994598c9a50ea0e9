"""The shipped fine-tuned model: offline loading, round trip, languages, odd inputs, commands."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mining.classify.model import FeedbackClassifier

pytestmark = pytest.mark.integration


def test_loads_offline(classifier: FeedbackClassifier, model_dir: Path) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert classifier.version == f"{model_dir.parent.name}/{model_dir.name}"
    assert (model_dir / "README.md").is_file() and (model_dir / "metrics.json").is_file()
    size = (model_dir / "model.int8.onnx").stat().st_size
    assert size < 60 * 2**20


def test_save_load_round_trip_gives_identical_predictions(classifier: FeedbackClassifier,
                                                          tmp_path: Path) -> None:
    texts = ["Our flight was cancelled and nobody called us back.", "房间很干净，服务很好。",
             "The waiter was rude and the soup was cold."]
    copy = FeedbackClassifier.load(classifier.save(tmp_path / "copy"))
    for a, b in zip(classifier.probabilities(texts), copy.probabilities(texts), strict=True):
        np.testing.assert_array_equal(a, b)
    assert copy.predict(texts) == classifier.predict(texts)


def test_english_and_chinese_texts_classify(classifier: FeedbackClassifier) -> None:
    negative_en = "@united flight delayed 4 hours and then cancelled, worst airline ever"
    positive_en = "@SouthwestAir thank you so much, the crew was wonderful and we landed early!"
    negative_zh = "房间又脏又小，空调坏了，前台服务态度很差，再也不会住了。"
    positive_zh = "酒店位置很好，房间干净，早餐丰富，服务热情，下次还会再来。"
    p = classifier.predict([negative_en, positive_en, negative_zh, positive_zh])
    assert [x.sentiment for x in p] == ["negative", "positive", "negative", "positive"]
    assert p[0].failure_types, "a delayed and cancelled flight names a failure"
    assert set(p[0].failure_types) & {"waiting", "booking_availability"}
    assert not p[1].failure_types
    for x in p:
        assert abs(sum(x.sentiment_scores.values()) - 1) < 1e-4
        assert 0 <= x.sentiment_score <= 1


def test_odd_inputs_do_not_crash(classifier: FeedbackClassifier) -> None:
    texts = ["", "   ", "😡😡😡", "🙂", "a" * 50_000, "word " * 5000, "\x00\x01", "Ω≈ç√∫"]
    predictions = classifier.predict(texts)
    assert len(predictions) == len(texts)
    assert all(p.sentiment in ("negative", "neutral", "positive") for p in predictions)


def test_order_is_kept_and_duplicates_share_a_prediction(classifier: FeedbackClassifier) -> None:
    texts = ["late again", "lovely crew", "late again", "房间很脏", "lovely crew"]
    p = classifier.predict(texts, batch_size=2)
    assert p[0] == p[2] and p[1] == p[4] and p[0] != p[1]
    single = [classifier.predict([t])[0] for t in texts]
    for a, b in zip(p, single, strict=True):
        assert a.sentiment == b.sentiment
        assert abs(a.sentiment_score - b.sentiment_score) < 1e-4


def run_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mining.cli", *args], cwd=repo,
                          capture_output=True, text=True, timeout=600)


def test_predict_command_writes_one_row_per_input(repo_root: Path, model_dir: Path,
                                                  tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([[1, "Lost my bag, call me at 555-123-4567"], [2, ""], [3, "很好"],
                          [4, "Lost my bag, call me at 555-123-4567"]])
    out = tmp_path / "out.csv"
    done = run_cli(repo_root, "predict", "--input", str(source), "--output", str(out),
                   "--model", str(model_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["row"] for r in rows] == ["1", "2", "3", "4"]
    assert "555-123-4567" not in out.read_text(encoding="utf-8")
    assert rows[0]["sentiment"] in ("negative", "neutral", "positive")
    assert rows[0]["model_version"] == f"{model_dir.parent.name}/{model_dir.name}"


def test_evaluate_command_scores_and_refuses_a_malformed_file(repo_root: Path, model_dir: Path,
                                                              tmp_path: Path) -> None:
    good = tmp_path / "eval.csv"
    good.write_text("text,sentiment,failure_types\n"
                    "flight delayed five hours,negative,waiting\n"
                    "great crew thanks,positive,none\n", encoding="utf-8")
    done = run_cli(repo_root, "evaluate", "--data", str(good), "--json",
                   str(tmp_path / "m.json"), "--model", str(model_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "m.json").is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text("text,sentiment\nhello,furious\n", encoding="utf-8")
    refused = run_cli(repo_root, "evaluate", "--data", str(bad), "--model", str(model_dir))
    assert refused.returncode == 2
    assert "sentiment must be one of" in refused.stderr


def test_scores_do_not_depend_on_the_rest_of_the_batch(classifier: FeedbackClassifier) -> None:
    """Activations are quantised per token: a resumed or distributed run stores the same scores."""
    texts = ["@united flight delayed 4 hours", "lovely crew, thanks!", "房间很脏，服务很差",
             "The waiter was rude and the soup was cold and the bill was wrong. " * 5,
             "ok", "Lost my bag twice this month; I am switching airlines."]
    together = classifier.probabilities(texts, batch_size=32)
    for i, text in enumerate(texts):
        alone = classifier.probabilities([text], batch_size=1)
        for head_together, head_alone in zip(together, alone, strict=True):
            np.testing.assert_allclose(head_together[i], head_alone[0], atol=1e-5)
