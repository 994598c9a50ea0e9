"""Silent dissatisfaction: linking, the silent score, Wilson intervals, iceberg, at-risk, trends."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mining.analysis import metrics
from mining.analysis.config import AnalysisConfig, LinkingConfig, RepurchaseRates
from mining.analysis.refresh import build_tables, refresh_analysis
from mining.analysis.silence import assess_silence, link_feedback_to_complaints
from mining.pipeline import refresh_aggregates
from mining.store.db import Store
from mining.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[2]
T0 = pd.Timestamp("2015-02-20 10:00")


def items(*rows: tuple[str, str, float, str | None, list[str]]) -> pd.DataFrame:
    """(item_id, site, hours after T0, customer_id, failure_types)"""
    return pd.DataFrame({
        "item_id": [r[0] for r in rows], "site": [r[1] for r in rows],
        "created_at": [T0 + pd.Timedelta(hours=r[2]) for r in rows],
        "customer_id": [r[3] for r in rows], "failure_types": [r[4] for r in rows],
    })


WINDOW = LinkingConfig(window_hours=72, require_failure_type_match=True)


def links_of(feedback: pd.DataFrame, complaints: pd.DataFrame,
             config: LinkingConfig = WINDOW) -> dict[str, tuple[str, str]]:
    links = link_feedback_to_complaints(feedback, complaints, config)
    return {f: (c, m) for f, c, m in zip(links["feedback_id"], links["complaint_id"],
                                         links["method"], strict=True)}


def test_same_customer_links_by_id_even_across_types() -> None:
    feedback = items(("f1", "Delta", 0, "C1", ["waiting"]))
    complaints = items(("c1", "Delta", 30, "C1", ["price_billing"]))
    assert links_of(feedback, complaints) == {"f1": ("c1", "customer_id")}


def test_id_match_needs_the_window() -> None:
    feedback = items(("f1", "Delta", 0, "C1", ["waiting"]))
    complaints = items(("c1", "Delta", 24 * 10, "C1", ["waiting"]))
    assert links_of(feedback, complaints) == {}


def test_window_match_needs_site_time_and_shared_type() -> None:
    feedback = items(("f1", "Delta", 0, None, ["waiting", "staff_attitude"]),
                     ("f2", "United", 0, None, ["waiting"]),
                     ("f3", "Delta", 0, None, ["price_billing"]),
                     ("f4", "Delta", 100, None, ["waiting"]))
    complaints = items(("c1", "Delta", 5, None, ["staff_attitude"]),
                       ("c2", "Delta", 150, None, ["waiting"]))
    assert links_of(feedback, complaints) == {"f1": ("c1", "window"), "f4": ("c2", "window")}


def test_window_match_without_type_requirement() -> None:
    feedback = items(("f3", "Delta", 0, None, ["price_billing"]))
    complaints = items(("c1", "Delta", 5, None, ["staff_attitude"]))
    assert links_of(feedback, complaints, LinkingConfig(window_hours=72,
                                                        require_failure_type_match=False)) == {
        "f3": ("c1", "window")}


def test_two_known_different_customers_never_link() -> None:
    feedback = items(("f1", "Delta", 0, "C1", ["waiting"]))
    complaints = items(("c1", "Delta", 1, "C2", ["waiting"]))
    assert links_of(feedback, complaints) == {}


def test_no_complaints_no_links() -> None:
    feedback = items(("f1", "Delta", 0, "C1", ["waiting"]))
    assert links_of(feedback, items()) == {}


def test_many_feedback_items_of_one_customer_link_to_one_complaint() -> None:
    feedback = items(("f1", "Delta", 0, "C1", ["waiting"]), ("f2", "Delta", 20, "C1", []),
                     ("f3", "Delta", 40, "C1", ["other"]))
    complaints = items(("c1", "Delta", 10, "C1", ["waiting"]),
                       ("c2", "Delta", 45, "C1", ["other"]))
    assert links_of(feedback, complaints) == {
        "f1": ("c1", "customer_id"), "f2": ("c1", "customer_id"), "f3": ("c2", "customer_id")}


def test_an_anonymous_complaint_answers_only_the_nearest_item() -> None:
    feedback = items(("f1", "Delta", 0, None, ["waiting"]), ("f2", "Delta", 3, None, ["waiting"]),
                     ("f3", "Delta", 9, "C7", ["waiting"]))
    complaints = items(("c1", "Delta", 4, None, ["waiting"]))
    assert links_of(feedback, complaints) == {"f2": ("c1", "window")}


def silence_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": ["a", "b", "c", "d", "e"],
        "sentiment": ["negative", "negative", "negative", "positive", "negative"],
        "sentiment_score": [0.9, 0.8, 0.6, 0.95, 0.7],
        "responses": [[], ["exit"], ["voice"], [], []],
        "response_scores": [{"exit": 0.1}, {"exit": 0.9, "word_of_mouth": 0.2},
                            {"voice": 0.9}, {}, {}],
        "rating": [None, None, None, 5.0, 5.0],
    })


def test_silence_voice_signals_and_noisy_or_score() -> None:
    config = AnalysisConfig()
    links = pd.DataFrame({"feedback_id": ["a"], "complaint_id": ["c1"], "method": ["window"],
                          "hours_apart": [1.0]})
    out = assess_silence(silence_frame(), links, config).set_index("item_id")
    assert out.loc["a", "voiced"] and out.loc["a", "voice_source"] == "complaint"
    assert out.loc["a", "silent_score"] == 0.0 and not out.loc["a", "silent"]
    assert out.loc["c", "voiced"] and out.loc["c", "voice_source"] == "text"
    # b: negativity 0.8 x 0.5, exit 0.9 x 0.8, word of mouth 0.2 x 0.6
    expected = 1 - (1 - 0.5 * 0.8) * (1 - 0.8 * 0.9) * (1 - 0.6 * 0.2)
    assert out.loc["b", "silent"] and math.isclose(out.loc["b", "silent_score"], expected,
                                                   abs_tol=1e-4)
    assert out.loc["b", "silent_signals"] == ["exit", "negativity"]
    # d is positive: not silent dissatisfaction, however high its rating.
    assert not out.loc["d", "silent"] and not out.loc["d", "polite_silence"]
    # e: five stars and a negative text: polite silence.
    assert out.loc["e", "polite_silence"] and out.loc["e", "silent"]
    assert math.isclose(out.loc["e", "silent_score"], 1 - (1 - 0.5 * 0.7) * (1 - 0.7),
                        abs_tol=1e-4)


def test_wilson_interval_known_values_and_empty() -> None:
    low, high = metrics.wilson_interval(np.array([5, 0, 3]), np.array([10, 10, 0]))
    assert low[0] == pytest.approx(0.2366, abs=1e-4) and high[0] == pytest.approx(0.7634, abs=1e-4)
    assert low[1] == 0.0 and high[1] == pytest.approx(0.2775, abs=1e-4)
    assert math.isnan(low[2]) and math.isnan(high[2])
    low, high = metrics.wilson_interval(np.arange(0, 51), np.full(51, 50))
    assert (low <= np.arange(0, 51) / 50).all() and (np.arange(0, 51) / 50 <= high).all()


def test_iceberg_without_complaints_says_so_instead_of_infinity() -> None:
    week = pd.Timestamp("2015-02-16").date()
    silent = pd.DataFrame({"week": [week] * 3, "site": ["Delta"] * 3,
                           "failure_type": ["waiting", "waiting", "staff_error"],
                           "item_id": ["a", "b", "c"]})
    complaints = pd.DataFrame({"week": [week, week], "site": ["Delta", "Delta"],
                               "failure_type": ["staff_error", "price_billing"],
                               "complaint_id": ["k1", "k2"]})
    out = metrics.iceberg(silent, complaints).set_index("failure_type")
    assert out.loc["waiting", "complaints"] == 0
    assert pd.isna(out.loc["waiting", "silent_per_complaint"])
    assert out.loc["waiting", "label"] == "no complaints"
    assert out.loc["staff_error", "silent_per_complaint"] == 1.0
    assert out.loc["price_billing", "silent_items"] == 0
    assert out.loc["price_billing", "silent_per_complaint"] == 0.0


def test_customers_at_risk_arithmetic() -> None:
    rates = RepurchaseRates()
    counts = {"silent": 10, "complained_unresolved": 5, "resolved": 4, "resolved_quickly": 2}
    assert metrics.expected_lost(counts, rates) == pytest.approx(
        10 * 0.91 + 5 * 0.81 + 4 * 0.46 + 2 * 0.18)
    outcomes = pd.DataFrame({
        "site": ["Delta"] * 5, "failure_type": ["waiting"] * 5,
        "customer": ["c1", "c1", "c2", "k1", "k2"],
        "outcome": ["silent", "silent", "silent", "resolved", "resolved_quickly"],
    })
    row = metrics.customers_at_risk(outcomes, rates).iloc[0]
    assert (row["silent"], row["resolved"], row["resolved_quickly"], row["dissatisfied"]) == (
        2, 1, 1, 4)
    assert row["expected_lost"] == pytest.approx(2 * 0.91 + 0.46 + 0.18)
    assert row["repurchase_rate_silent"] == 0.09


def test_trend_change_is_never_taken_across_a_gap() -> None:
    frame = pd.DataFrame({
        "item_id": ["1", "2", "3", "4", "5"],
        "created_at": pd.to_datetime(["2015-02-16", "2015-02-16", "2015-02-17", "2015-02-19",
                                      "2015-02-19"]),
        "site": ["Delta"] * 5,
        "failure_types": [["waiting"], [], ["waiting"], ["waiting"], []],
        "sentiment": ["negative", "positive", "negative", "negative", "neutral"],
    })
    out = metrics.period_trends(frame, lambda t: t, "day")
    delta = out[(out["site"] == "Delta") & (out["category"] == "waiting")].set_index(
        "period_start")
    assert list(delta["negative_share"]) == [0.5, 1.0, 0.5]
    assert delta.loc["2015-02-17", "change"] == pytest.approx(0.5)
    assert pd.isna(delta.loc["2015-02-19", "previous_share"])  # no feedback on the 18th
    overall = out[out["site"] == metrics.ALL_SITES]
    assert set(overall["category"]) == {"waiting", "none"}


def test_drivers_measure_the_fall_in_negativity_without_a_type() -> None:
    frame = pd.DataFrame({
        "site": ["Delta"] * 4, "rating": [1.0, 2.0, 5.0, None],
        "failure_types": [["waiting"], ["waiting"], [], ["price_billing"]],
        "sentiment": ["negative", "negative", "positive", "negative"],
    })
    out = metrics.drivers(frame).set_index(["site", "failure_type"])
    waiting = out.loc[("Delta", "waiting")]
    assert waiting["negative_share"] == 0.75 and waiting["negative_share_without_type"] == 0.5
    assert waiting["negativity_points"] == pytest.approx(25.0)
    assert waiting["rating_points"] == pytest.approx(5.0 - 8 / 3)


def test_build_tables_on_a_small_store(tmp_path: Path) -> None:
    """The tables and views the analysts read, on hand-made rows in a real DuckDB file."""
    taxonomy = Taxonomy.load(REPO / "config" / "taxonomy.yaml")
    config = AnalysisConfig.load(REPO / "config" / "analysis.yaml")
    now = pd.Timestamp("2015-02-20 10:00")
    store = Store.open(tmp_path / "radar.duckdb")
    try:
        common = {"source": "s", "run_id": "r", "ingested_at": now, "language": "en"}
        feedback = pd.DataFrame({
            "item_id": ["f1", "f2", "f3"], "external_id": ["1", "2", "3"],
            "content_hash": ["h1", "h2", "h3"], "created_at": [now] * 3,
            "site": ["Delta"] * 3, "customer_id": ["C1", None, None],
            "rating": [None, None, 5.0], "text": ["late again", "never again", "nice but rude"],
            **{k: [v] * 3 for k, v in common.items()}})
        complaints = pd.DataFrame({
            "item_id": ["k1"], "external_id": ["k1"], "content_hash": ["h9"],
            "created_at": [now + pd.Timedelta(hours=2)], "site": ["Delta"],
            "customer_id": ["C1"], "status": ["open"], "resolved_at": [pd.NaT],
            "category": ["Late Flight"], "text": ["my flight was late"],
            **{k: [v] for k, v in common.items()}})
        predictions = pd.DataFrame({
            "item_id": ["f1", "f2", "f3", "k1"], "model_version": ["m/1"] * 4,
            "item_kind": ["feedback"] * 3 + ["complaint"],
            "content_hash": ["h1", "h2", "h3", "h9"],
            "sentiment": ["negative"] * 4, "sentiment_score": [0.9, 0.95, 0.7, 0.9],
            "failure_types": [["waiting"], ["waiting"], ["staff_attitude"], []],
            "failure_scores": ["{}"] * 4, "responses": [[], ["exit"], [], []],
            "response_scores": [json.dumps({"exit": 0.1}), json.dumps({"exit": 0.95}), "{}",
                                "{}"],
            "run_id": ["r"] * 4, "predicted_at": [now] * 4})
        for name, frame in (("feedback", feedback), ("complaints", complaints),
                            ("predictions", predictions)):
            store.insert_arrow(name, pa.Table.from_pandas(frame, preserve_index=False))
        refresh_aggregates(store, taxonomy)
        counts = refresh_analysis(store, taxonomy, config)
        assert (counts.feedback, counts.complaints, counts.linked, counts.silent) == (3, 1, 1, 2)

        silent = store.fetch_arrow("SELECT item_id, root_causes, silent_signals FROM silent_items"
                                   ).to_pylist()
        assert [r["item_id"] for r in silent] == ["f2", "f3"]  # exit outranks polite silence
        assert silent[0]["root_causes"] == ["process_system"]
        assert silent[1]["silent_signals"] == ["polite_silence", "negativity"]
        facts = store.fetch_arrow("SELECT failure_types, outcome, is_complex FROM "
                                  "complaint_facts").to_pylist()[0]
        assert facts == {"failure_types": ["waiting"], "outcome": "complained_unresolved",
                         "is_complex": False}
        sla = store.fetch_arrow("SELECT sla_target_days, breached FROM complaint_sla").to_pylist()
        assert sla == [{"sla_target_days": 3.0, "breached": True}]
        berg = store.fetch_arrow("SELECT failure_type, silent_items, complaints, label FROM "
                                 "iceberg_weekly ORDER BY ALL").to_pylist()
        assert berg == [
            {"failure_type": "staff_attitude", "silent_items": 1, "complaints": 0,
             "label": "no complaints"},
            {"failure_type": "waiting", "silent_items": 1, "complaints": 1,
             "label": "1.0 silent per complaint"}]
        customers = store.fetch_arrow("SELECT customer_id FROM silent_customers").to_pylist()
        assert customers == []  # C1's only feedback was answered by a complaint
        assert store.count("analysis_assumptions") > 10
        # Rebuilding gives the same tables (no duplicates from a rerun).
        before = store.fetch_arrow("SELECT * FROM feedback_silence ORDER BY item_id")
        refresh_analysis(store, taxonomy, config)
        assert store.fetch_arrow("SELECT * FROM feedback_silence ORDER BY item_id") == before
    finally:
        store.close()


def test_build_tables_with_nothing_classified() -> None:
    taxonomy = Taxonomy.load(REPO / "config" / "taxonomy.yaml")
    empty_feedback = pd.DataFrame(columns=["item_id", "created_at", "site", "customer_id",
                                           "rating", "sentiment", "sentiment_score",
                                           "failure_types", "responses", "response_scores"])
    empty_complaints = pd.DataFrame(columns=["complaint_id", "site", "created_at", "customer_id",
                                             "status", "resolved_at", "category",
                                             "failure_types"])
    tables = build_tables(empty_feedback, empty_complaints, taxonomy, AnalysisConfig())
    assert all(len(t) == 0 for name, t in tables.items() if name != "analysis_assumptions")
