"""No held-out hand-labelled text is trained on, nor tunes, through another set (real shared
data, the shipped training config)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mining.classify import data
from mining.classify.train import TrainConfig, build_datasets

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_no_held_out_text_is_trained_on_nor_tunes_through_another_set(tmp_path, shared_data):
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
    dev_tweet = next(e.text for e in airline if data.split_of(e.uid) == "dev")
    corpus = pd.DataFrame([
        # A test text repeated in the train part: the repeat is not trained on.
        {"id": "t3", "origin_file": "x", "origin_row": "5", "text": "the same words twice",
         "split": "test"},
        {"id": "t4", "origin_file": "x", "origin_row": "6", "text": "The same  words twice",
         "split": "train"},
        # A corpus text drawn from the airline dev part: it no longer tunes through it.
        {"id": "t5", "origin_file": "airline_tweets/tweets.csv", "origin_row": "3",
         "text": dev_tweet, "split": "train"},
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
    train, dev, validation, _ = build_datasets(cfg)
    trained = {data.text_key(e.text) for e in train}
    assert data.text_key(held_tweet) not in trained
    assert data.text_key(held_review) not in trained
    assert data.text_key("the same words twice") not in trained
    assert data.text_key(dev_tweet) in trained  # from the corpus's train part
    assert data.text_key(dev_tweet) not in {data.text_key(e.text) for e in dev["airline"]}
    assert len(tweets) > len([e for e in train if e.dataset == "airline"]) > 0
    assert {e.dataset for e in train} >= {spec.name for spec in data.RATED_SETS}
    assert {e.uid for e in validation["corpus_test"]} == {"corpus:t1", "corpus:t2",
                                                          "corpus:t3"}
