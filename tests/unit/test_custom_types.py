"""Custom failure types: the examples CSV, cross-validation, the threshold, the taxonomy edit,
and relabelling stored predictions (issue 15)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mining.classify.custom import (
    CustomHead,
    ExamplesError,
    HeadRejected,
    check_precision,
    choose_threshold,
    custom_version,
    fit_head,
    parse_examples,
    precision_recall,
    read_examples,
)
from mining.classify.taxonomy_model import relabel_scores
from mining.taxonomy import Taxonomy, set_custom_enabled, write_custom_type

REPO = Path(__file__).resolve().parents[2]
NOISE = REPO / "docs" / "examples" / "noise.csv"


def csv_bytes(*rows: str, header: str = "text,label") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def positives(n: int) -> list[str]:
    return [f"noisy room number {i},1" for i in range(n)]


def test_the_worked_example_reads() -> None:
    examples = read_examples(NOISE)
    assert (examples.n_positive, examples.n_negative) == (32, 59)
    assert len(set(examples.texts)) == len(examples.texts)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ExamplesError, match="missing: label"):
        parse_examples(csv_bytes("a", header="text"), "x.csv")


def test_bad_labels_and_empty_texts_give_their_line_numbers() -> None:
    data = csv_bytes(*positives(8), "so loud,yes", " ,0", "thin walls,2")
    with pytest.raises(ExamplesError) as error:
        parse_examples(data, "x.csv")
    message = str(error.value)
    assert "lines 10, 12: label must be 0 or 1" in message
    assert "line 11: empty text" in message
    assert "so loud" not in message  # texts from outside the store are never echoed


def test_conflicting_labels_of_one_text_are_an_error() -> None:
    data = csv_bytes(*positives(8), "quiet room,0", "noisy room number 3,0")
    with pytest.raises(ExamplesError, match="line 11: the same text appears earlier"):
        parse_examples(data, "x.csv")


def test_fewer_than_eight_positives_is_a_clear_error() -> None:
    with pytest.raises(ExamplesError, match="has 7 positive examples .* at least 8"):
        parse_examples(csv_bytes(*positives(7), "quiet,0", "clean,0"), "x.csv")
    examples = parse_examples(csv_bytes(*positives(8), "quiet,0", "clean,0"), "x.csv")
    assert examples.n_positive == 8


def test_threshold_is_the_best_f1_cut_set_between_scores() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    threshold = choose_threshold(scores, labels)
    # Cutting at 0.8 gives F1 0.8 (2 of 3 found, none wrong); at 0.5, 0.75; at 0.9, 0.5.
    assert threshold == pytest.approx((0.8 + 0.7) / 2)
    assert precision_recall(scores, labels, threshold) == (1.0, pytest.approx(2 / 3))



def test_threshold_never_falls_below_the_balanced_boundary() -> None:
    """A best-F1 cut under 0.5 fits the examples' share of positives; history has far fewer."""
    labels = np.array([1, 1, 1, 0, 0, 0])
    scores = np.array([0.45, 0.4, 0.35, 0.3, 0.2, 0.1])
    assert choose_threshold(scores, labels) == 0.5
    assert precision_recall(scores, labels, 0.5) == (0.0, 0.0)

def separable(n: int, shift: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.array([1] * n + [0] * n)
    features = rng.normal(size=(2 * n, 16)).astype(np.float32)
    features[:n, 0] += shift
    return features, labels


def test_cross_validation_measures_a_clear_signal_and_rejects_noise() -> None:
    features, labels = separable(20, 6.0)
    examples = parse_examples(csv_bytes(*[f"t{i},{label}" for i, label in enumerate(labels)]),
                              "x.csv")
    head = fit_head("noise", features, examples, "enc")
    assert head.cv_precision >= 0.9 and head.cv_recall >= 0.9
    assert (head.n_positive, head.n_negative, head.cv_folds) == (20, 20, 5)
    check_precision(head, force=False)
    assert (head.scores(features[:20]) >= head.threshold).mean() >= 0.9

    random_features, _ = separable(20, 0.0, seed=1)
    unrelated = fit_head("noise", random_features, examples, "enc")
    assert unrelated.cv_precision < head.cv_precision

    weak = replace(head, cv_precision=0.55)
    with pytest.raises(HeadRejected, match="precision 0.55 is below 0.6 .*--force"):
        check_precision(weak, force=False)
    check_precision(weak, force=True)


def test_a_head_saves_and_loads_and_names_its_version(tmp_path: Path) -> None:
    features, labels = separable(10, 5.0)
    examples = parse_examples(csv_bytes(*[f"t{i},{label}" for i, label in enumerate(labels)]),
                              "x.csv")
    head = fit_head("noise", features, examples, "enc")
    head.save(tmp_path)
    loaded = CustomHead.load(tmp_path, "noise")
    assert loaded is not None
    assert np.allclose(loaded.scores(features), head.scores(features))
    assert json.loads((tmp_path / "noise.json").read_text())["examples_sha256"] == (
        examples.sha256)
    assert custom_version({}) == ""
    assert custom_version({"noise": loaded}) == custom_version({"noise": head}) != ""
    assert CustomHead.load(tmp_path, "other_type") is None


def test_taxonomy_write_keeps_comments_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    shutil.copyfile(REPO / "config" / "taxonomy.yaml", path)
    before = path.read_text(encoding="utf-8").splitlines()
    taxonomy = write_custom_type(path, "noise", "product", "Street: neighbours, walls",
                                 "custom_types/noise.csv")
    after = path.read_text(encoding="utf-8").splitlines()
    assert [line for line in before if line not in after] == []  # nothing lost or rewrapped
    assert taxonomy.failure_types["noise"].kind == "custom"
    assert taxonomy.examples_path("noise") == tmp_path / "custom_types" / "noise.csv"
    assert list(taxonomy.custom_failure_types) == ["noise"]

    disabled = set_custom_enabled(path, "noise", False)
    assert disabled.custom_failure_types == {} and "noise" not in disabled.failure_type_ids
    assert Taxonomy.load(path).failure_types["noise"].enabled is False

    with pytest.raises(ValueError, match="unknown root causes"):
        write_custom_type(path, "smell", "no_such_cause", "", "custom_types/smell.csv")
    assert "smell" not in path.read_text(encoding="utf-8")  # the file was left as it was


def test_relabel_keeps_built_in_types_and_replaces_custom_ones() -> None:
    taxonomy = Taxonomy.load(REPO / "config" / "taxonomy.yaml")
    builtin = set(taxonomy.builtin_failure_type_ids)
    types, scores = relabel_scores(
        ["waiting", "old_custom"], {"waiting": 0.9, "staff_error": 0.1, "old_custom": 0.8},
        builtin, taxonomy, {"noise": 0.7}, {"noise": 0.5})
    assert types == ["waiting", "noise"]
    assert scores == {"waiting": 0.9, "staff_error": 0.1, "noise": 0.7}
    types, scores = relabel_scores(["waiting", "noise"], {"waiting": 0.9, "noise": 0.7},
                                   builtin, taxonomy, {}, {})
    assert (types, scores) == (["waiting"], {"waiting": 0.9})
