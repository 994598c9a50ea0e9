"""Cleaning, language detection on real lines, content hashes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mining.normalise import (
    clean_text,
    collapse_spaces,
    content_hash,
    detect_language,
    detect_languages,
)


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


def test_batched_langid_equals_py3langid_on_real_texts(shared_data: Path) -> None:
    """The vectorised pass gives py3langid's own label for every text, whatever the language."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from mining.normalise import langid_classify

    texts: list[str] = []
    for folder, column, count in (("airline_tweets/tweets.csv", "text", 300),
                                  ("yelp_restaurants/reviews.csv", "text", 200),
                                  ("zomato_hyderabad_restaurants/reviews.csv", "text", 200),
                                  ("flipkart_product_reviews/reviews.csv", "text", 200),
                                  ("chnsenticorp_hotel/reviews.csv", "review", 100)):
        column_values = pd.read_csv(shared_data / folder)[column].dropna().astype(str)
        texts += [clean_text(t)[:400] for t in column_values.iloc[:count]]
    # Short, uppercase, non-Latin, emoji-only and mixed texts, and one with no letters at all.
    texts += ["OK", "SERVICE WAS TERRIBLE", "Отличный отель, но грязно", "très bien, merci",
              "😀😀", "1234", "", "Das Zimmer war sauber und ruhig", "酒店 good 不错"]
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    expected = [reference.classify(t)[0] for t in texts]
    assert langid_classify(texts) == expected
    # One text at a time or all together: the same labels (no n-gram crosses two texts).
    assert [langid_classify([t])[0] for t in texts[-9:]] == expected[-9:]
    assert len(set(expected)) >= 5  # the sample does hold several languages


def test_detect_languages_in_batch_equals_one_by_one(shared_data: Path) -> None:
    tweets = pd.read_csv(shared_data / "airline_tweets" / "tweets.csv")["text"].iloc[:100]
    texts = [clean_text(t) for t in tweets] + ["房间很干净", "@united", "😀", "ok ok ok"]
    assert detect_languages(texts) == [detect_language(t) for t in texts]
    assert detect_languages([]) == []


def test_collapse_spaces_is_the_regex_it_replaces() -> None:
    import re
    import sys

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert len(spaces) > 20  # \u00a0, \u3000, \u2028, \x1c ... not only ASCII
    pattern = re.compile(r"\s+")
    samples = ["", " ", "a", " a  b ", "x".join(spaces), "".join(spaces) + "end",
               "tab\tnew\nline\r\u3000ideographic\u00a0nbsp  "]
    for text in samples:
        assert collapse_spaces(text) == pattern.sub(" ", text).strip()


def test_chinese_is_told_by_its_share_of_letters_not_of_characters() -> None:
    # 3 CJK among 40 characters but among only 8 letters: Chinese by the letters' share.
    assert detect_language("好吃的 abcde!!! 123 ... ??? ,,, 456 ... !!! ;;;") == "zh"
    # Mostly punctuation and CJK: Chinese without counting the letters.
    assert detect_language("好吃！！") == "zh"
    # 2 CJK among many Latin letters: not Chinese.
    assert detect_language("The noodles 好吃 were fine but the service was very slow") == "en"
