"""Spike detection, false-alarm control and episodes on hand-made series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mining.alerts.detect import (
    ANY_TYPE,
    DetectorConfig,
    benjamini_hochberg,
    detect_spikes,
    series_counts,
)
from mining.alerts.episodes import build_episodes

DAY0 = pd.Timestamp("2015-02-01")


def feedback(days: dict[int, tuple[int, int]], site: str = "Delta",
             failure_type: str = "waiting") -> pd.DataFrame:
    """{day: (feedback items, negative items about failure_type)}"""
    rows = []
    for day, (total, negative) in days.items():
        for i in range(total):
            rows.append({"site": site, "created_at": DAY0 + pd.Timedelta(days=day, minutes=i),
                         "sentiment": "negative" if i < negative else "positive",
                         "failure_types": [failure_type] if i < negative else []})
    return pd.DataFrame(rows)


def spikes(frame: pd.DataFrame, config: DetectorConfig | None = None) -> pd.DataFrame:
    scored = detect_spikes(series_counts(frame, "day"), config or DetectorConfig())
    return scored[scored["is_spike"]]


def test_benjamini_hochberg_known_cases() -> None:
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205])
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True] + [False] * 6
    assert benjamini_hochberg(np.array([0.04, 0.01, 0.03, 0.2]), 0.05).tolist() == [
        False, True, False, False]
    assert benjamini_hochberg(np.array([0.01, 0.02, 0.03]), 0.05).all()
    assert benjamini_hochberg(np.array([]), 0.05).tolist() == []


def test_series_counts_include_the_any_type_series_and_zero_days() -> None:
    frame = pd.DataFrame({
        "site": ["Delta"] * 3, "sentiment": ["negative", "negative", "positive"],
        "created_at": pd.to_datetime(["2015-02-01 10:00", "2015-02-02 10:00",
                                      "2015-02-02 11:00"]),
        "failure_types": [["waiting", "staff_error"], [], []]})
    counts = series_counts(frame, "day").set_index(["failure_type", "bucket"])
    assert counts.loc[(ANY_TYPE, pd.Timestamp("2015-02-01")), "negative"] == 1
    assert counts.loc[(ANY_TYPE, pd.Timestamp("2015-02-02")), "negative"] == 1
    assert counts.loc[("waiting", pd.Timestamp("2015-02-02")), "negative"] == 0
    assert counts.loc[("waiting", pd.Timestamp("2015-02-02")), "total"] == 2


def test_a_clear_jump_is_a_spike() -> None:
    days = {d: (60, 3) for d in range(10)} | {10: (60, 18)}
    found = spikes(feedback(days))
    assert set(zip(found["failure_type"], found["bucket"], strict=True)) == {
        ("waiting", DAY0 + pd.Timedelta(days=10)), (ANY_TYPE, DAY0 + pd.Timedelta(days=10))}
    row = found[found["failure_type"] == "waiting"].iloc[0]
    assert row["expected"] == pytest.approx(3.0, rel=0.05) and row["p_value"] < 1e-4


def test_one_to_three_on_a_quiet_day_is_not_a_spike() -> None:
    days = {d: (10, 1) for d in range(10)} | {10: (10, 3)}
    assert spikes(feedback(days)).empty


def test_more_negatives_on_a_busier_day_is_not_a_spike() -> None:
    """Volume counts: twice the feedback with the same negative share is no alarm."""
    days = {d: (40, 4) for d in range(10)} | {10: (120, 13)}
    assert spikes(feedback(days)).empty


def test_no_test_without_history() -> None:
    days = {0: (60, 2), 1: (60, 30)}
    assert spikes(feedback(days)).empty


def test_flat_noisy_series_raise_almost_no_alarm() -> None:
    rng = np.random.default_rng(7)
    frames = []
    for s in range(20):
        days = {d: (int(n), int(rng.binomial(n, 0.1))) for d, n in
                enumerate(rng.integers(30, 80, size=30))}
        frames.append(feedback(days, site=f"site{s}"))
    scored = detect_spikes(series_counts(pd.concat(frames), "day"), DetectorConfig())
    tested = scored["p_value"].notna().sum()
    assert tested > 1000
    assert scored["is_spike"].sum() <= 2  # ≤ 0.2 per 100 series-days


def test_episode_opens_grows_closes_and_reopens() -> None:
    base = {d: (60, 3) for d in range(18)}
    days = base | {8: (60, 12), 9: (60, 25), 10: (60, 14), 16: (60, 20)}
    config = DetectorConfig(calm_buckets=2, grow_ratio=1.5)
    scored = detect_spikes(series_counts(feedback(days), "day"), config)
    episodes = [e for e in build_episodes(scored, config) if e.failure_type == "waiting"]
    assert len(episodes) == 2
    first, second = episodes
    assert first.opened_at == DAY0 + pd.Timedelta(days=8)
    assert [a["kind"] for a in first.alerts] == ["opened", "grew"]
    assert first.closed_at is not None and first.status == "closed"
    assert second.opened_at == DAY0 + pd.Timedelta(days=16) and second.status == "open"
    assert first.episode_id != second.episode_id
    # The same history gives the same ids (alerts are keyed on them).
    again = [e for e in build_episodes(scored, config) if e.failure_type == "waiting"]
    assert [a["alert_id"] for e in again for a in e.alerts] == [
        a["alert_id"] for e in episodes for a in e.alerts]
