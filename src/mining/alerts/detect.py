"""Spike detection: each series against its own robust baseline, false alarms controlled.

A series is a site × failure type (or the site's negative feedback of any type) in daily or
hourly buckets. For each bucket: x negative items of n feedback items at the site. The baseline
pools the series' previous `baseline_buckets` buckets that were not themselves spikes (so an
earlier spike does not hide the next). The next bucket's rate is a Beta whose mean is the
pooled baseline rate and whose variance adds the day-to-day variation seen in the baseline to
the uncertainty of the mean (`rate_prior`); the p-value is the beta-binomial upper tail
P(X >= x | n). It accounts for today's volume, for how little the baseline may know and for how
restless the series is, so 1 → 3 on a quiet day is not a spike. A short baseline can look
steadier than the series is, so the day-to-day variation is never taken below `rate_cv_floor`
(25%) of the rate. A bucket is a spike only if
x >= min_count, x >= min_ratio × expected, and its p-value survives Benjamini–Hochberg at level
`fdr` across every series tested in that bucket.
Pure functions; numbers in, decisions out.
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import betabinom

ANY_TYPE = "(any)"


class DetectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str = Field("day", pattern="^(day|hour)$")
    baseline_buckets: int = Field(7, ge=3, description="Buckets before the one tested.")
    min_history: int = Field(3, ge=2, description="Buckets with feedback needed to test.")
    min_count: int = Field(5, ge=1, description="Fewest negative items that can be a spike.")
    min_ratio: float = Field(1.5, ge=1, description="x must reach min_ratio × expected.")
    fdr: float = Field(0.05, gt=0, lt=1, description="Benjamini–Hochberg level per bucket.")
    rate_cv_floor: float = Field(0.25, ge=0, description="Least day-to-day rate variation.")
    calm_buckets: int = Field(2, ge=1, description="Buckets without a spike that end an episode.")
    grow_ratio: float = Field(1.5, ge=1, description="Peak growth that sends an update.")


def benjamini_hochberg(p_values: np.ndarray, level: float) -> np.ndarray:
    """Which hypotheses BH rejects at `level` (step-up, independent or positively dependent)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    thresholds = level * np.arange(1, m + 1) / m
    passed = p[order] <= thresholds
    reject = np.zeros(m, dtype=bool)
    if passed.any():
        reject[order[: np.nonzero(passed)[0].max() + 1]] = True
    return reject


def series_counts(items: pd.DataFrame, bucket: str) -> pd.DataFrame:
    """Negative and total counts per site × failure type × bucket, plus the site's any-type series.

    `items`: site, created_at, sentiment, failure_types (list). Every series has a row for every
    bucket in which its site had feedback (zero negatives where the type was absent).
    """
    columns = ["site", "failure_type", "bucket", "negative", "total"]
    if items.empty:
        return pd.DataFrame(columns=columns)
    frame = items.assign(bucket=items["created_at"].dt.floor("h" if bucket == "hour" else "D"))
    totals = frame.groupby(["site", "bucket"]).size().rename("total").reset_index()
    negative = frame[frame["sentiment"] == "negative"]
    typed = negative.assign(failure_type=negative["failure_types"].map(
        lambda t: [*dict.fromkeys(t), ANY_TYPE] if len(t) else [ANY_TYPE])).explode(
        "failure_type")
    counts = typed.groupby(["site", "failure_type", "bucket"]).size().rename("negative")
    series = counts.reset_index()[["site", "failure_type"]].drop_duplicates()
    grid = series.merge(totals, on="site").merge(
        counts.reset_index(), on=["site", "failure_type", "bucket"], how="left")
    grid["negative"] = grid["negative"].fillna(0).astype("int64")
    return grid.sort_values(["site", "failure_type", "bucket"], ignore_index=True)[columns]


def rate_prior(baseline: np.ndarray, cv_floor: float = 0.0) -> tuple[float, float]:
    """Beta(a, b) for the next bucket's negative rate, from baseline rows (negative, total).

    Mean: the pooled rate (Jeffreys-smoothed). Variance: the uncertainty of that mean plus the
    day-to-day variation of the rate beyond binomial noise (method of moments), because real
    series are overdispersed: weather, outages and news move whole days.
    """
    x, n = baseline[:, 0], np.maximum(baseline[:, 1], 1)
    mean = (x.sum() + 0.5) / (n.sum() + 1)
    shares = x / n
    extra = shares.var(ddof=1) - np.mean(mean * (1 - mean) / n) if len(x) > 1 else 0.0
    extra = max(float(extra), (cv_floor * mean) ** 2)
    variance = min(extra + mean * (1 - mean) / (n.sum() + 1), 0.99 * mean * (1 - mean))
    concentration = max(mean * (1 - mean) / variance - 1, 1e-3)
    return mean * concentration, (1 - mean) * concentration


def detect_spikes(counts: pd.DataFrame, config: DetectorConfig) -> pd.DataFrame:
    """Score every bucket in time order; returns counts with baseline_share, expected, p_value,
    bh_passed and is_spike. A bucket judged a spike stays out of its series' later baselines."""
    out = counts.sort_values(["bucket", "site", "failure_type"], ignore_index=True)
    n_rows = len(out)
    baseline_share = np.full(n_rows, np.nan)
    p_value = np.full(n_rows, np.nan)
    bh_passed = np.zeros(n_rows, dtype=bool)
    is_spike = np.zeros(n_rows, dtype=bool)
    history: dict[tuple[str, str], deque[tuple[float, float]]] = defaultdict(
        lambda: deque(maxlen=config.baseline_buckets))
    keys = list(zip(out["site"], out["failure_type"], strict=True))
    negative = out["negative"].to_numpy(float)
    total = out["total"].to_numpy(float)
    for rows in out.groupby("bucket", sort=True).indices.values():
        testable = [r for r in rows if len(history[keys[r]]) >= config.min_history]
        if testable:
            t = np.asarray(testable)
            a, b = np.array([rate_prior(np.array(history[keys[r]]), config.rate_cv_floor)
                             for r in testable]).T
            baseline_share[t] = a / (a + b)
            p_value[t] = betabinom.sf(negative[t] - 1, total[t], a, b)
            bh_passed[t] = benjamini_hochberg(p_value[t], config.fdr)
            is_spike[t] = bh_passed[t] & (negative[t] >= config.min_count) & (
                negative[t] >= config.min_ratio * total[t] * baseline_share[t])
        for r in rows:
            if not is_spike[r]:
                history[keys[r]].append((negative[r], total[r]))
    out["baseline_share"] = baseline_share
    out["expected"] = total * baseline_share
    out["p_value"] = p_value
    out["bh_passed"] = bh_passed
    out["is_spike"] = is_spike
    return out.sort_values(["site", "failure_type", "bucket"], ignore_index=True)
