"""The shipped model hears customers who leave or warn others, and the silent score shows it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mining.analysis.config import AnalysisConfig
from mining.analysis.silence import assess_silence
from mining.classify.model import FeedbackClassifier

pytestmark = pytest.mark.integration

# Real review texts (the corpus draw's sources), with what a careful reader hears in them.
LEAVE_AND_WARN = [
    "Never staying here again, and I told all my friends to avoid it. The room was filthy and "
    "the front desk could not care less.",
    "Worst dinner we have had in years. Cold food, rude waiter. We will never come back and I "
    "would tell everyone to stay away from this place.",
    "房间又脏又吵，前台态度恶劣，再也不会住了，大家千万别订这家酒店。",
]
MILD = [
    "The room was a little small and the breakfast was average.",
    "Food was okay, nothing special, service a bit slow.",
    "房间有点小，早餐一般。",
]


@pytest.fixture(scope="module")
def assessed(classifier: FeedbackClassifier, repo_root: Path) -> pd.DataFrame:
    texts = LEAVE_AND_WARN + MILD
    predictions = classifier.predict(texts)
    items = pd.DataFrame({
        "item_id": [f"i{n}" for n in range(len(texts))],
        "sentiment": [p.sentiment for p in predictions],
        "sentiment_score": [p.sentiment_score for p in predictions],
        "responses": [p.responses for p in predictions],
        "response_scores": [p.response_scores for p in predictions],
        "rating": [None] * len(texts),
    })
    links = pd.DataFrame(columns=["feedback_id", "complaint_id"])
    config = AnalysisConfig.load(repo_root / "config" / "analysis.yaml")
    return assess_silence(items, links, config).assign(text=texts)


def test_leaving_and_warning_others_are_heard(assessed: pd.DataFrame) -> None:
    loud = assessed.iloc[: len(LEAVE_AND_WARN)]
    for row in loud.itertuples(index=False):
        assert {"exit", "word_of_mouth"} & set(row.silent_signals), row.text
    assert all("exit" in s for s in loud["silent_signals"][:2])


def test_silent_score_separates_them_from_mild_negativity(assessed: pd.DataFrame) -> None:
    loud = assessed["silent_score"].iloc[: len(LEAVE_AND_WARN)]
    mild = assessed["silent_score"].iloc[len(LEAVE_AND_WARN):]
    assert loud.min() > mild.max() + 0.1
    for row in assessed.iloc[len(LEAVE_AND_WARN):].itertuples(index=False):
        assert not {"exit", "word_of_mouth", "third_party"} & set(row.silent_signals), row.text
