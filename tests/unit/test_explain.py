"""Why this label: words, occlusion variants, span choice, rendering, and the real model on
real texts (the highlighted span holds the words a reader points to)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mining.alerts.config import WebhookChannel
from mining.alerts.notify import AlertMessage, WebhookNotifier
from mining.alerts.service import with_why_lines
from mining.classify.explain import (
    MIN_DROP,
    Span,
    ToExplain,
    Word,
    explain_stored,
    explain_texts,
    explanation_from_drops,
    highlight_html,
    log_odds,
    occlude,
    plan_windows,
    read_ranges,
    split_words,
    stored_why_lines,
    top_failure_type,
    why_line,
)
from mining.classify.model import FeedbackClassifier, default_model_path
from mining.store.db import Store

REPO = Path(__file__).resolve().parents[2]


def texts_of(text: str, words: list[Word]) -> list[str]:
    return [text[w.start:w.end] for w in words]


def test_english_words_skip_handles_and_links_and_keep_offsets() -> None:
    text = "@united I've waited an hour, see http://t.co/xYz1 #fail"
    words = split_words(text)
    assert texts_of(text, words) == ["I've", "waited", "an", "hour", "see", "fail"]


def test_chinese_is_segmented_into_words_not_characters() -> None:
    text = "服务员态度很差，房间很脏"
    words = texts_of(text, split_words(text))
    assert "服务员" in words and "态度" in words
    assert "".join(words) == "服务员态度很差房间很脏"
    mixed = "wifi密码错了"
    assert texts_of(mixed, split_words(mixed))[0] == "wifi"


def test_occlusion_deletes_the_words_and_keeps_neighbours_apart() -> None:
    assert occlude("staff was rude today", 10, 14) == "staff was today"
    assert occlude("rude staff", 0, 4) == "staff"
    assert occlude("房间很脏服务差", 2, 4) == "房间服务差"


def test_windows_stay_in_one_clause_and_in_what_the_model_reads() -> None:
    text = "very rude staff. we waited long"
    words = split_words(text)
    windows = plan_windows(text, words, [(0, len(text))])
    spans = {text[words[a].start:words[b - 1].end] for a, b in windows}
    assert {"very rude staff", "we waited long", "rude"} <= spans
    assert not any("staff. we" in s for s in spans)
    # Only the first sentence is read: nothing from the second is occluded.
    head_only = plan_windows(text, words, [(0, 15)])
    assert all(b <= 3 for _, b in head_only)
    assert len(plan_windows(text, words, [(0, len(text))], max_variants=4)) == 4


def test_read_ranges_leave_out_the_middle_of_a_long_text() -> None:
    classifier = FeedbackClassifier.load(default_model_path(REPO / "models"))
    encoder = classifier.text_encoder
    assert encoder.truncation == "head_tail"
    short = "the staff were rude"
    assert read_ranges(encoder, short) == [(0, len(short))]
    text = "start " + "filler words here " * 200 + "the staff were rude"
    (head_start, head_end), (tail_start, tail_end) = read_ranges(encoder, text)
    assert head_start == 0 and head_end < 1000 < tail_start
    assert text[tail_start:tail_end].endswith("the staff were rude")


def test_the_largest_fall_wins_shrinks_and_a_second_span_must_not_touch_it() -> None:
    text = "we waited an hour and the agent was rude"
    words = split_words(text)
    windows = plan_windows(text, words, [(0, len(text))])
    falls = {"waited an hour": 3.0, "waited an": 1.0, "an hour": 1.2, "hour": 0.8,
             "rude": 1.8, "was rude": 1.85, "hour and": 2.0}
    drops = [falls.get(text[words[a].start:words[b - 1].end], 0.1) for a, b in windows]
    explanation = explanation_from_drops(text, words, windows, drops, "waiting", 0.97)
    assert [s.text for s in explanation.spans] == ["waited an hour", "rude"]
    first = explanation.spans[0]
    assert text[first.start:first.end] == "waited an hour" and first.drop == 3.0
    assert len(explanation.weights) == len(words)
    nothing = explanation_from_drops(text, words, windows, [MIN_DROP / 2] * len(windows),
                                     "waiting", 0.97)
    assert nothing.spans == ()


def test_top_type_is_the_highest_predicted_type_the_model_scores() -> None:
    scores = {"waiting": 0.9, "staff_attitude": 0.95, "other": 0.99}
    explainable = ["waiting", "staff_attitude"]
    assert top_failure_type(["waiting", "staff_attitude", "other"], scores,
                            explainable) == "staff_attitude"
    assert top_failure_type(["other"], scores, explainable) is None
    assert top_failure_type(["noise"], scores, explainable) is None


def test_highlight_escapes_the_text_and_marks_the_span() -> None:
    text = "<b>so</b> rude & slow"
    start = text.index("rude")
    out = highlight_html(text, [Span(start, start + 4, "rude", 2.0)], "drove staff_attitude")
    assert out == ("&lt;b&gt;so&lt;/b&gt; <mark title='drove staff_attitude'>rude</mark> "
                   "&amp; slow")
    assert why_line("waiting", [Span(0, 14, "waited an hour", 3.0)]) == (
        "why: «waited an hour» → waiting")
    assert why_line("waiting", []) == ""


# Real texts: tweets from /work/shared/data/airline_tweets/tweets.csv and a hotel review from
# /work/shared/data/chnsenticorp_hotel/reviews.csv; per failure type the text names, the words
# a reader would point to (a text naming two types may be explained by either).
REAL = [
    ("@AmericanAir No, had already waited an hour for it and wanted to get home.",
     {"waiting": "waited an hour"}),
    ("@USAirways testing my patience this evening (or shall I say morning?). We waited an hour "
     "at the gate for you to find a gate agent.  130am", {"waiting": "waited an hour"}),
    ("@united we've been waiting 45 min for a gate at SFO... Yet so many of them are free.  "
     "Your excellence in operational efficiency is showing", {"waiting": "waiting 45 min"}),
    ("@SouthwestAir almost bumped me off my flight to HRL when I was 20 minutes early then your "
     "staff was rude when I asked what was the problem?", {"staff_attitude": "rude"}),
    ("@united 1hr delay at the start, huge queues at security, no representative to meet us, "
     "rude staff at baggage reclaim  #inefficient",
     {"staff_attitude": "rude", "waiting": "1hr delay"}),
    ("房间可以,特别的套房,非常不错,就是餐厅太脏了,早餐搞得没胃口,",
     {"cleanliness_facilities": "脏"}),
]


@pytest.fixture(scope="module")
def classifier() -> FeedbackClassifier:
    return FeedbackClassifier.load(default_model_path(REPO / "models"))


def test_real_texts_highlight_the_words_a_reader_points_to(
        classifier: FeedbackClassifier) -> None:
    predictions = classifier.predict([t for t, _ in REAL])
    items = []
    for (text, named), prediction in zip(REAL, predictions, strict=True):
        explainable = [t for t in classifier.labels.failure_types if t != "other"]
        top = top_failure_type(prediction.failure_types, prediction.failure_scores, explainable)
        assert top in named, (text, prediction.failure_types)
        items.append(ToExplain(text, top, prediction.failure_scores[top]))
    explanations = explain_texts(classifier, items)
    for (text, named), item, explanation in zip(REAL, items, explanations, strict=True):
        expected = item.failure_type
        assert explanation.failure_type == expected and explanation.spans, text
        best = explanation.spans[0]
        assert named[expected] in best.text, (best.text, text)
        assert text[best.start:best.end] == best.text
        assert len(best.text.split()) <= 3
        # Deleting the span really lowers the type's score by the fall recorded.
        _, failure, _ = classifier.probabilities([occlude(text, best.start, best.end)])
        column = classifier.labels.failure_types.index(expected)
        fall = float(log_odds(explanation.score) - log_odds(failure[0, column]))
        assert fall >= MIN_DROP and fall == pytest.approx(best.drop, abs=0.05)


def _store_with(texts: list[str], classifier: FeedbackClassifier) -> Store:
    """An in-memory store holding the texts as feedback with the model's real predictions."""
    store = Store.in_memory()
    now = datetime(2015, 2, 20)
    predictions = classifier.predict(texts)
    ids = [f"item-{i}" for i in range(len(texts))]
    store.insert_arrow("feedback", pa.Table.from_pylist([
        {"item_id": i, "source": "t", "external_id": i, "content_hash": f"h-{i}",
         "created_at": now, "site": "Delta", "language": "en", "text": t, "run_id": "r",
         "ingested_at": now} for i, t in zip(ids, texts, strict=True)]))
    store.insert_arrow("predictions", pa.Table.from_pylist([
        {"item_id": i, "model_version": classifier.version, "item_kind": "feedback",
         "content_hash": f"h-{i}", "sentiment": p.sentiment, "sentiment_score": p.sentiment_score,
         "failure_types": p.failure_types, "failure_scores": json.dumps(p.failure_scores),
         "responses": p.responses, "response_scores": json.dumps(p.response_scores),
         "run_id": "r", "predicted_at": now} for i, p in zip(ids, predictions, strict=True)]))
    return store


def test_stored_explanations_are_made_once_and_feed_the_alert_why_lines(
        classifier: FeedbackClassifier) -> None:
    rude, waited = REAL[3][0], REAL[0][0]
    store = _store_with([rude, waited, "@united thanks, all good"], classifier)
    first = explain_stored(store, lambda: classifier, ["item-0", "item-1", "item-2"], "r1",
                           skip_types=["other"])
    assert (first.explained, first.reused) == (2, 0) and first.variants > 20

    def no_model() -> FeedbackClassifier:
        raise AssertionError("explained twice")

    again = explain_stored(store, no_model, ["item-0", "item-1", "item-2"], "r2",
                           skip_types=["other"])
    assert (again.explained, again.reused) == (0, 2)
    why = stored_why_lines(store, ["item-0", "item-1", "item-2"])
    assert set(why) == {"item-0", "item-1"}
    assert why["item-0"].startswith("why: «") and "rude" in why["item-0"]
    assert why["item-0"].endswith("→ staff_attitude")
    assert "waited an hour" in why["item-1"] and why["item-1"].endswith("→ waiting")

    # A new alert explains only its own examples; one already in the outbox asks for nothing.
    asked: list[list[str]] = []

    def explain(s: Store, ids: list[str]) -> dict[str, str]:
        asked.append(ids)
        return stored_why_lines(s, ids)

    alerts = pd.DataFrame({"alert_id": ["a-new"], "example_items": [["item-1", "item-2"]]})
    lines = with_why_lines(store, alerts, explain)["example_why"].tolist()
    assert asked == [["item-1", "item-2"]] and lines == [[why["item-1"], ""]]
    store.execute("CREATE TEMP TABLE known AS SELECT 'a-new' AS alert_id")
    store.execute("INSERT INTO alerts (alert_id, episode_id, kind, site, failure_type, "
                  "root_cause, window_start, window_end, negative, total, expected, "
                  "baseline_share, p_value, examples, report, manager, run_id, created_at) "
                  "SELECT alert_id, 'e', 'opened', 'Delta', 'waiting', 'process_system', "
                  "now(), now(), 5, 40, 1.0, 0.05, 0.001, ['x'], 'r.html', 'm', 'r', now() "
                  "FROM known")
    with_why_lines(store, alerts, explain)
    assert len(asked) == 1

    message = AlertMessage(
        alert_id="a-new", kind="opened", site="Delta", failure_type="waiting",
        root_cause="process_system", window_start="2015-02-19", window_end="2015-02-20",
        negative=9, total=60, expected=3.0, baseline_share=0.05, p_value=0.001,
        silent_share=0.5, examples=[waited, "@united thanks, all good"], report="r.html",
        manager="duty", example_why=lines[0])
    text = message.as_text()
    assert f"  - {waited}\n    {why['item-1']}\n  - @united thanks, all good\n" in text
    slack = WebhookNotifier(WebhookChannel(type="slack", url_env="X")).payload(message, "k")
    assert why["item-1"] in json.dumps(slack, ensure_ascii=False)
