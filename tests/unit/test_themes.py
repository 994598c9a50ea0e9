"""Emerging themes on real texts: keywords in English and Chinese, clustering on the shipped
model's pooled features, stable ids, growth, minimum size, storage and training examples."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mining.analysis import themes as th
from mining.analysis.config import ThemesConfig
from mining.classify.model import FeedbackClassifier, default_model_path
from mining.redact import redact
from mining.store.db import Store

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
NOW = datetime(2026, 12, 1, 12, 0)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    """Real texts by problem: the Mengniu dairy scandal (Chinese), negative Chinese hotel
    reviews, and airline tweets about a broken website, lost bags and anything else."""
    shopping = _csv(SHARED / "chinese_online_shopping" / "reviews.csv")
    dairy = [r["review"].strip() for r in shopping if r["cat"] == "蒙牛" and r["label"] == "0"
             and "蒙牛" in r["review"]]
    hotel = [r["review"].strip() for r in _csv(SHARED / "chnsenticorp_hotel" / "reviews.csv")
             if r["label"] == "0" and r["review"].strip()]
    tweets = [r["text"] for r in _csv(SHARED / "airline_tweets" / "tweets.csv")
              if r["airline_sentiment"] == "negative"]
    website = re.compile(r"\b(website|site)\b.*\b(error|down|broken|crash\w*|not working)\b",
                         re.I)
    bags = re.compile(r"\b(bag|bags|luggage|baggage)\b.*\b(lost|missing|damaged)\b", re.I)
    unique = lambda rows: list(dict.fromkeys(rows))  # noqa: E731
    return {
        "dairy": unique(dairy)[:80],
        "hotel": unique(hotel)[:80],
        "website": unique(t for t in tweets if website.search(t))[:30],
        "bags": unique(t for t in tweets if bags.search(t))[:30],
        "tweets": unique(t for t in tweets if not website.search(t) and not bags.search(t))[:80],
    }


@pytest.fixture(scope="module")
def pooled(texts: dict[str, list[str]]) -> dict[str, np.ndarray]:
    classifier = FeedbackClassifier.load(default_model_path(REPO / "models"))
    return {name: classifier.pooled(texts[name])
            for name in ("dairy", "tweets", "website", "bags")}


def items(name: str, rows: list[str], site: str) -> list[th.Item]:
    return [th.Item(f"{name}-{i}", site, text) for i, text in enumerate(rows)]


# -- keywords ----------------------------------------------------------------------------------
def test_english_keywords_name_each_cluster_and_skip_stop_words(
        texts: dict[str, list[str]]) -> None:
    classes = [[w for t in texts[name] for w in th.tokens(t)]
               for name in ("website", "bags", "tweets")]
    website, bags, _ = th.class_tfidf_keywords(classes, top_n=5)
    assert {"website", "site"} & set(website[:2]), website
    assert {"bag", "bags", "luggage", "baggage"} & set(bags[:2]), bags
    for word in website + bags:
        assert word not in {"the", "and", "united", "http"} and not word.startswith("@")


def test_chinese_keywords_come_from_jieba_words(texts: dict[str, list[str]]) -> None:
    classes = [[w for t in texts[name] for w in th.tokens(t)] for name in ("dairy", "hotel")]
    dairy, hotel = th.class_tfidf_keywords(classes, top_n=5)
    assert dairy[0] == "蒙牛", dairy
    assert {"酒店", "房间", "服务", "宾馆"} & set(hotel), hotel
    assert "蒙牛" not in hotel
    assert all(len(w) >= 2 for w in dairy + hotel)  # single characters carry no topic


def test_tokens_drop_mentions_links_redaction_tokens_and_keep_both_languages() -> None:
    words = th.tokens("@united 网站又崩溃了 website crashed http://t.co/x [EMAIL] it's broken")
    assert "网站" in words and "崩溃" in words
    assert {"website", "crashed", "broken"} <= set(words)
    assert not {"united", "email", "http", "it's", "it"} & set(words)


# -- clustering, ids, growth, size -------------------------------------------------------------
def corpus(texts: dict[str, list[str]], pooled: dict[str, np.ndarray], names: list[str]
           ) -> tuple[list[th.Item], np.ndarray]:
    rows = [item for n in names for item in items(n, texts[n], n)]
    return rows, np.concatenate([pooled[n] for n in names])


def test_a_recurring_problem_becomes_a_theme_of_its_own(texts: dict[str, list[str]],
                                                        pooled: dict[str, np.ndarray]) -> None:
    current, vectors = corpus(texts, pooled, ["dairy", "tweets"])
    themes = th.build_themes(current, vectors, np.zeros((0, vectors.shape[1])), [],
                             ThemesConfig(), NOW)
    dairy = [t for t in themes if t.keywords and t.keywords[0] == "蒙牛"]
    assert dairy, [t.keywords for t in themes]
    for theme in dairy:
        share = sum(i.startswith("dairy-") for i in theme.item_ids) / theme.size
        assert share >= 0.9, theme.item_ids
        assert theme.sites[0][0] == "dairy"
        # Redaction folds full-width punctuation, so examples are compared redacted.
        assert len(theme.examples) == 3
        assert set(theme.examples) <= {redact(t) for t in texts["dairy"]}
        assert theme.theme_id.startswith("theme-")


def test_same_data_twice_gives_the_same_ids(texts: dict[str, list[str]],
                                            pooled: dict[str, np.ndarray]) -> None:
    current, vectors = corpus(texts, pooled, ["dairy", "tweets", "website"])
    none = np.zeros((0, vectors.shape[1]))
    first = th.build_themes(current, vectors, none, [], ThemesConfig(), NOW)
    again = th.build_themes(current, vectors, none, [], ThemesConfig(), NOW)
    assert first and [t.theme_id for t in first] == [t.theme_id for t in again]
    known = [th.KnownTheme(t.theme_id, t.centroid, t.first_seen_at) for t in first]
    later = NOW + timedelta(days=1)
    # The next run sees most of the same items and some new ones: the themes persist.
    shifted = current[5:] + items("more", texts["dairy"][-5:], "dairy")
    shifted_vectors = np.concatenate([vectors[5:], pooled["dairy"][-5:]])
    next_run = th.build_themes(shifted, shifted_vectors, none, known, ThemesConfig(), later)
    carried = {t.theme_id for t in next_run} & {t.theme_id for t in first}
    assert carried, "no theme kept its id"
    for theme in next_run:
        if theme.theme_id in carried:
            assert theme.first_seen_at == NOW
        else:
            assert theme.first_seen_at == later
    assert len({t.theme_id for t in next_run}) == len(next_run)


def test_growth_counts_the_previous_window_inside_the_theme(
        texts: dict[str, list[str]], pooled: dict[str, np.ndarray]) -> None:
    current, vectors = corpus(texts, pooled, ["dairy", "tweets"])
    current, vectors = current[:50] + current[80:], np.concatenate([vectors[:50], vectors[80:]])
    # Last week: the other 30 dairy texts and 30 lost-bag tweets.
    previous = np.concatenate([pooled["dairy"][50:], pooled["bags"]])
    themes = th.build_themes(current, vectors, previous, [], ThemesConfig(), NOW)
    dairy = [t for t in themes if t.keywords and t.keywords[0] == "蒙牛"]
    assert dairy
    counted = th.previous_sizes(previous, [t.centroid for t in themes],
                                [t.radius for t in themes])
    bags_only = th.previous_sizes(pooled["bags"], [t.centroid for t in dairy],
                                  [t.radius for t in dairy])
    assert sum(t.previous_size for t in dairy) > 0
    assert bags_only == [0] * len(dairy)  # another problem last week is not this one's past
    assert [t.previous_size for t in themes] == counted
    assert sum(counted) <= len(previous)
    for theme in dairy:
        assert theme.growth == pytest.approx(theme.size / theme.previous_size - 1)


def test_only_clusters_of_min_size_are_themes(texts: dict[str, list[str]],
                                              pooled: dict[str, np.ndarray]) -> None:
    current, vectors = corpus(texts, pooled, ["dairy", "tweets"])
    none = np.zeros((0, vectors.shape[1]))
    sizes = [t.size for t in th.build_themes(current, vectors, none, [], ThemesConfig(), NOW)]
    assert sizes and min(sizes) >= 10
    bigger = ThemesConfig(min_size=max(sizes) + 1)
    assert th.build_themes(current, vectors, none, [], bigger, NOW) == []
    assert th.build_themes(current[:9], vectors[:9], none, [], ThemesConfig(), NOW) == []


def test_matching_is_one_to_one_and_needs_the_threshold() -> None:
    a, b = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    known = [th.KnownTheme("theme-a", a, NOW), th.KnownTheme("theme-b", b, NOW)]
    close_to_a = th.unit_rows(np.array([[1.0, 0.1, 0]]))[0]
    also_a = th.unit_rows(np.array([[1.0, 0.3, 0]]))[0]
    matched = th.match_ids([also_a, close_to_a], known, threshold=0.9)
    assert [m.theme_id if m else None for m in matched] == [None, "theme-a"]
    assert th.match_ids([np.array([0, 0, 1.0])], known, 0.5) == [None]


# -- selection and storage ---------------------------------------------------------------------
def test_window_holds_negative_items_no_type_covers(texts: dict[str, list[str]]) -> None:
    newest = datetime(2015, 2, 24)
    rows = pd.DataFrame({
        "item_id": ["a", "b", "c", "d", "e"],
        "created_at": [newest, newest - timedelta(days=1), newest - timedelta(days=2),
                       newest - timedelta(days=9), newest - timedelta(days=20)],
        "site": ["s"] * 5,
        "text": texts["dairy"][:5],
        "failure_types": [[], ["other"], ["waiting"], ["other"], []],
    })
    window = th.split_window(rows, newest, 7, max_items=10)
    assert [i.item_id for i in window.current] == ["a", "b"]
    assert [i.item_id for i in window.previous] == ["d"]
    assert [i.item_id for i in th.split_window(rows, newest, 7, 1).current] == ["a"]


def _store_with_feedback(texts: dict[str, list[str]]) -> tuple[Store, list[str], list[str]]:
    store = Store.in_memory()
    dairy, covered = texts["dairy"][:20], texts["bags"][:20]
    created = datetime(2015, 2, 24)
    feedback = pa.table({
        "item_id": [f"d{i}" for i in range(20)] + [f"b{i}" for i in range(20)],
        "source": ["s"] * 40, "content_hash": [f"h{i}" for i in range(40)],
        "created_at": [created - timedelta(hours=i) for i in range(40)],
        "site": ["Dairy Shop"] * 20 + ["United"] * 20, "language": ["zh"] * 20 + ["en"] * 20,
        "text": dairy + covered, "run_id": ["r"] * 40, "ingested_at": [created] * 40,
    })
    store.insert_arrow("feedback", feedback)
    predictions = pa.table({
        "item_id": feedback.column("item_id"), "model_version": ["m"] * 40,
        "item_kind": ["feedback"] * 40, "content_hash": feedback.column("content_hash"),
        "sentiment": ["negative"] * 40, "sentiment_score": [0.9] * 40,
        "failure_types": [["other"]] * 20 + [["staff_error"]] * 20,
        "failure_scores": ["{}"] * 40, "responses": pa.array([[]] * 40, pa.list_(pa.string())),
        "response_scores": ["{}"] * 40, "run_id": ["r"] * 40, "predicted_at": [created] * 40,
    })
    store.insert_arrow("predictions", predictions)
    return store, dairy, covered


def test_stored_themes_view_and_training_examples(texts: dict[str, list[str]],
                                                  pooled: dict[str, np.ndarray]) -> None:
    store, dairy, covered = _store_with_feedback(texts)
    vectors = {t: v for t, v in zip(texts["dairy"] + texts["bags"],
                                    np.concatenate([pooled["dairy"], pooled["bags"]]),
                                    strict=True)}

    def features(batch: list[str]) -> np.ndarray:
        return np.stack([vectors[t] for t in batch])

    config = ThemesConfig(distance_threshold=0.6)
    counts = th.refresh_themes(store, config, features, "run-1", model_version="m",
                               encoder_digest="enc")
    assert counts.uncovered_items == 20 and counts.themes >= 1
    view = store.execute("SELECT theme_id, size, run_id FROM emerging_themes").fetchall()
    assert len(view) == counts.themes and {r[2] for r in view} == {"run-1"}
    theme_id = view[0][0]
    examples = th.theme_examples(store, theme_id)
    positives = [t for t, label in examples if label == 1]
    negatives = [t for t, label in examples if label == 0]
    assert len(positives) == view[0][1] and set(positives) <= {redact(t) for t in dairy}
    assert negatives and set(negatives) <= {redact(t) for t in covered}
    with pytest.raises(KeyError):
        th.theme_examples(store, "theme-unknown")
    # A later run with the same data keeps the id; one that finds nothing empties the view.
    th.refresh_themes(store, config, features, "run-2", model_version="m",
                      encoder_digest="enc")
    assert {r[0] for r in store.execute("SELECT theme_id FROM emerging_themes").fetchall()} == {
        r[0] for r in view}
    th.refresh_themes(store, ThemesConfig(min_size=50), features, "run-3", model_version="m",
                      encoder_digest="enc")
    assert store.execute("SELECT count(*) FROM emerging_themes").fetchall() == [(0,)]
    assert th.theme_examples(store, theme_id)  # still there from the run that found it


def test_report_table_reads_growth() -> None:
    frame = pd.DataFrame({"theme_id": ["theme-1", "theme-2"], "keywords": [["a", "b"], ["c"]],
                          "size": [12, 10], "previous_size": [4, 0],
                          "sites": [["x", "y"], ["x"]], "examples": [["e1", "e2"], ["e3"]]})
    table = th.report_table(frame)
    assert list(table["growth vs previous window"]) == ["+200% (4 → 12)", "new this window"]
    assert list(table["keywords"]) == ["a, b", "c"]
