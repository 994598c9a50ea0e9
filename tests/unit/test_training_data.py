"""What training reads: rated reviews as sentiment, balanced; hand-labelled rows by number."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from mining.classify import data
from mining.classify.data import Example, RatedSet
from mining.classify.train import balanced_sample


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
    # Row number 8 (index 6 + 2) is the 7th row: a hand-labelled set already holds it.
    examples = data.rated_examples(tmp_path, spec, {("set/reviews.csv", 8)})
    assert [(e.text, e.sentiment) for e in examples] == [
        ("awful, never again", "negative"), ("meh", "negative"), ("good", "positive"),
        ("great", "positive")]
    assert all(e.failures == {} and e.responses == {} and e.dataset == "demo" for e in examples)
    assert len({e.uid for e in examples}) == len(examples)


def test_a_missing_rated_set_names_its_path(tmp_path):
    spec = RatedSet("gone", "gone/reviews.csv", "en", "text", "stars", 2, 4)
    with pytest.raises(FileNotFoundError, match=r"gone/reviews\.csv.*rated_max_per_set"):
        data.rated_examples(tmp_path, spec, set())


def _rated(negatives: int, positives: int) -> list[Example]:
    return ([Example(f"n{i}", "d", "t", "en", "negative") for i in range(negatives)]
            + [Example(f"p{i}", "d", "t", "en", "positive") for i in range(positives)])


@pytest.mark.parametrize(("negatives", "positives", "expected"), [
    (50, 50, (10, 10)), (50, 5, (15, 5)), (5, 50, (5, 15)), (3, 4, (3, 4))])
def test_balanced_sample_takes_half_of_each_and_fills_a_short_side_from_the_other(
        negatives, positives, expected):
    picked = balanced_sample(_rated(negatives, positives), 20, random.Random(1))
    assert (sum(e.sentiment == "negative" for e in picked),
            sum(e.sentiment == "positive" for e in picked)) == expected
    assert len({e.uid for e in picked}) == len(picked)


def test_a_hand_labelled_row_without_a_row_number_is_an_error(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_text("id,origin_file,origin_row\nc1,x.csv,12\nc2,x.csv,?\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3: origin_row '\\?'"):
        data.labelled_origins([path])
