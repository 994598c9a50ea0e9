"""What training reads: rated reviews as sentiment, and no held-out text through a public set."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pandas as pd

from mining.classify import data
from mining.classify.data import Example, RatedSet
from mining.classify.train import TrainConfig, balanced_sample, build_datasets

REPO = Path(__file__).resolve().parents[2]


def _rated_file(folder: Path) -> RatedSet:
    rows = [("awful, never again", "1", "shop"), ("meh", "2", "shop"),
            ("fine I guess", "3", "shop"), ("good", "4", "shop"), ("great", "5", "shop"),
            ("lovely room", "5", "hotel"), ("taken into the corpus", "5", "shop"),
            ("no rating", "n/a", "shop"), ("", "1", "shop")]
    (folder / "set").mkdir()
    with open(folder / "set" / "reviews.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "stars", "cat"])
        writer.writerows(rows)
    return RatedSet("demo", "set/reviews.csv", "en", "text", "stars", 2, 4, {"cat": "hotel"})


def test_rated_reviews_read_low_as_negative_high_as_positive_and_leave_the_rest(tmp_path):
    spec = _rated_file(tmp_path)
    # CSV line 8 is the 7th row: a hand-labelled set already holds it.
    examples = data.rated_examples(tmp_path, spec, {("set/reviews.csv", 8)})
    assert [(e.text, e.sentiment) for e in examples] == [
        ("awful, never again", "negative"), ("meh", "negative"), ("good", "positive"),
        ("great", "positive")]
    assert all(e.failures == {} and e.responses == {} and e.dataset == "demo" for e in examples)
    assert len({e.uid for e in examples}) == len(examples)


def test_a_missing_rated_set_names_its_path(tmp_path):
    spec = RatedSet("gone", "gone/reviews.csv", "en", "text", "stars", 2, 4)
    try:
        data.rated_examples(tmp_path, spec, set())
    except FileNotFoundError as error:
        assert "gone/reviews.csv" in str(error) and "rated_max_per_set" in str(error)
    else:
        raise AssertionError("no error for a missing set")


def test_balanced_sample_takes_half_negative_half_positive():
    examples = ([Example(f"n{i}", "d", "t", "en", "negative") for i in range(50)]
                + [Example(f"p{i}", "d", "t", "en", "positive") for i in range(5)])
    picked = balanced_sample(examples, 20, random.Random(1))
    assert sum(e.sentiment == "positive" for e in picked) == 5  # all there are
    assert sum(e.sentiment == "negative" for e in picked) == 10
    assert len({e.uid for e in picked}) == len(picked)


def test_no_held_out_corpus_text_is_trained_on_through_a_public_set(tmp_path, shared_data):
    tweets = pd.read_csv(shared_data / "airline_tweets" / "tweets.csv", dtype=str)
    airline = data.airline_examples(shared_data / "airline_tweets" / "tweets.csv",
                                    TrainConfig().label_ids())
    public_train = [e for e in airline if data.split_of(e.uid) == "train"]
    held_tweet = public_train[0].text
    rated = pd.read_csv(shared_data / "yelp_restaurants" / "reviews.csv", dtype=str,
                        keep_default_na=False)
    line = next(i + 2 for i, stars in enumerate(rated["rating_or_label"]) if stars == "1"
                and data.split_of(f"yelp:{i}") == "train")
    held_review = rated["text"].iloc[line - 2]
    corpus = pd.DataFrame([
        # The same tweet, respaced: still the same text.
        {"id": "t1", "origin_file": "airline_tweets/tweets.csv", "origin_row": "2",
         "text": "  " + held_tweet.upper() + " ", "split": "test"},
        {"id": "t2", "origin_file": "yelp_restaurants/reviews.csv", "origin_row": str(line),
         "text": "(redacted copy)", "split": "test"}])
    for column, value in (("language", "en"), ("sentiment", "negative"),
                          ("failure_types", "none"), ("response", "none")):
        corpus[column] = value
    corpus.to_csv(tmp_path / "corpus.csv", index=False)
    cfg = TrainConfig.load(REPO / "config" / "train.yaml")
    cfg.data.shared = shared_data
    cfg.data.corpus = tmp_path / "corpus.csv"
    cfg.data.gold = None
    cfg.data.corrections = None
    cfg.data.rated_max_per_set = 100_000  # every rated row
    cfg.taxonomy = REPO / "config" / "taxonomy.yaml"
    train, _, validation, _ = build_datasets(cfg)
    trained = {data.text_key(e.text) for e in train}
    assert data.text_key(held_tweet) not in trained
    assert data.text_key(held_review) not in trained
    assert len(tweets) > len([e for e in train if e.dataset == "airline"]) > 0
    assert {e.dataset for e in train} >= {spec.name for spec in data.RATED_SETS}
    assert [e.text for e in validation["corpus_test"]][0].strip().upper() == held_tweet.upper()
