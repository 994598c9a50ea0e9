"""Cleaning, language detection on real lines, content hashes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mining.normalise import clean_text, content_hash, detect_language


def test_html_entities_scripts_and_invisible_characters() -> None:
    raw = "<p>Great&amp;cheap<br>room</p><script>alert(1)</script>\u200b\u00a0 ok\x07"
    assert clean_text(raw) == "Great&cheap room ok"
    assert clean_text("ＡＢＣ，好！") == "ABC,好!"  # NFKC folds full-width forms
    assert clean_text("a < b and c > d") == "a < b and c > d"
    assert clean_text("  \n\t ") == ""
    assert clean_text("delay 😡😡") == "delay 😡😡"


def test_language_of_real_tweets_and_reviews(shared_data: Path) -> None:
    tweets = pd.read_csv(shared_data / "airline_tweets" / "tweets.csv")["text"]
    reviews = pd.read_csv(shared_data / "chnsenticorp_hotel" / "reviews.csv")["review"]
    english = [detect_language(clean_text(t)) for t in tweets.iloc[:200]]
    chinese = [detect_language(clean_text(str(r))) for r in reviews.dropna().iloc[:200]]
    assert english.count("en") >= 194  # 97 %
    # One of these 200 "Chinese" reviews is an English quote with a short Chinese preface.
    assert chinese.count("zh") >= 199


def test_too_little_text_is_undetermined() -> None:
    assert detect_language("😀😀") == "und"
    assert detect_language("") == "und"
    assert detect_language("@united") == "und"
    assert detect_language("房间") == "zh"


def test_hash_ignores_case_and_spacing_only() -> None:
    assert content_hash("Waited  an HOUR") == content_hash("waited an hour")
    assert content_hash("<b>waited</b> an hour") == content_hash("waited an hour")
    assert content_hash("waited an hour") != content_hash("waited two hours")
