"""Figures analysts read: Wilson intervals, trends, complaint iceberg, customers at risk, drivers.

Pure functions over DataFrames, so each is tested on hand-made numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from mining.analysis.config import RepurchaseRates

ALL_SITES = "(all)"
OUTCOMES = ("silent", "complained_unresolved", "resolved", "resolved_quickly")


def wilson_interval(k: np.ndarray | float, n: np.ndarray | float,
                    z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval for k successes in n trials; NaN where n is 0."""
    k_arr = np.asarray(k, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        denom = 1 + z * z / n_arr
        centre = (p + z * z / (2 * n_arr)) / denom
        half = z * np.sqrt(p * (1 - p) / n_arr + z * z / (4 * n_arr * n_arr)) / denom
        # The interval always holds p; min/max only absorb rounding at p = 0 or 1.
        low = np.where(n_arr > 0, np.clip(np.minimum(centre - half, p), 0, 1), np.nan)
        high = np.where(n_arr > 0, np.clip(np.maximum(centre + half, p), 0, 1), np.nan)
    return low, high


def period_start(created_at: pd.Series, period: str) -> pd.Series:
    """Day, or the Monday that starts the ISO week."""
    day = created_at.dt.floor("D")
    if period == "day":
        return day
    if period == "week":
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    raise ValueError(f"unknown period {period!r}: use 'day' or 'week'")


def _with_overall(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.assign(site=ALL_SITES)], ignore_index=True)


def period_trends(items: pd.DataFrame, category_of: Callable[[list[str]], list[str]],
                  period: str) -> pd.DataFrame:
    """Negative share of a site's feedback per category (failure type or root cause) and period.

    `items`: item_id, created_at, site, failure_types (list), sentiment. The share's denominator
    is all the site's feedback in the period; each series has one row per period in which the
    site had feedback (zero when the category was absent), so the change against the previous
    period is never taken across a gap.
    """
    columns = ["period", "period_start", "site", "category", "items", "type_items",
               "negative_items", "negative_share", "ci_low", "ci_high", "previous_share",
               "change"]
    if items.empty:
        return pd.DataFrame(columns=columns)
    frame = _with_overall(items.assign(period_start=period_start(items["created_at"], period)))
    totals = frame.groupby(["site", "period_start"]).size().rename("items").reset_index()
    exploded = frame.assign(category=frame["failure_types"].map(
        lambda t: sorted(set(category_of(list(t)))) or ["none"])).explode("category")
    exploded["negative"] = exploded["sentiment"] == "negative"
    counts = (exploded.groupby(["site", "category", "period_start"])
              .agg(type_items=("item_id", "nunique"), negative_items=("negative", "sum"))
              .reset_index())
    series = counts[["site", "category"]].drop_duplicates()
    grid = series.merge(totals, on="site")
    out = grid.merge(counts, on=["site", "category", "period_start"], how="left")
    out[["type_items", "negative_items"]] = out[["type_items", "negative_items"]].fillna(0)
    out = out.astype({"type_items": "int64", "negative_items": "int64", "items": "int64"})
    out = out.sort_values(["site", "category", "period_start"]).reset_index(drop=True)
    out["negative_share"] = out["negative_items"] / out["items"]
    out["ci_low"], out["ci_high"] = wilson_interval(out["negative_items"], out["items"])
    step = pd.Timedelta(days=1 if period == "day" else 7)
    previous = out.groupby(["site", "category"])[["period_start", "negative_share"]].shift(1)
    contiguous = (out["period_start"] - previous["period_start"]) == step
    out["previous_share"] = previous["negative_share"].where(contiguous)
    out["change"] = out["negative_share"] - out["previous_share"]
    out["period"] = period
    return out[columns]


def iceberg_label(silent_items: int, complaints: int) -> str:
    if complaints == 0:
        return "no complaints" if silent_items else "nothing to report"
    return f"{silent_items / complaints:.1f} silent per complaint"


def iceberg(silent: pd.DataFrame, complaints: pd.DataFrame) -> pd.DataFrame:
    """Silent negative items per formal complaint, per site x failure type x week.

    `silent`: week, site, failure_type, item_id (silent negative feedback, one row per type).
    `complaints`: week, site, failure_type, complaint_id. With no complaint the ratio is null
    and the label says "no complaints": small numbers stay visible as small, never infinite.
    """
    keys = ["week", "site", "failure_type"]
    s = silent.groupby(keys)["item_id"].nunique().rename("silent_items")
    c = complaints.groupby(keys)["complaint_id"].nunique().rename("complaints")
    out = pd.concat([s, c], axis=1).fillna(0).astype("int64").reset_index()
    if out.empty:
        return pd.DataFrame(columns=[*keys, "silent_items", "complaints", "silent_per_complaint",
                                     "label"])
    out["silent_per_complaint"] = (out["silent_items"] / out["complaints"].where(
        out["complaints"] > 0)).round(3)
    out["label"] = [iceberg_label(s, c) for s, c in zip(out["silent_items"], out["complaints"],
                                                          strict=True)]
    return out.sort_values(keys).reset_index(drop=True)


def expected_lost(counts: dict[str, float], rates: RepurchaseRates) -> float:
    """Dissatisfied customers times the share who do not buy again, summed over outcomes."""
    return sum(counts.get(o, 0) * (1 - getattr(rates, o)) for o in OUTCOMES)


def customers_at_risk(outcomes: pd.DataFrame, rates: RepurchaseRates) -> pd.DataFrame:
    """Expected lost customers per site and failure type, with the assumed rates alongside.

    `outcomes`: site, failure_type, customer (a customer id, or the item id when unknown),
    outcome (one of OUTCOMES). A customer is counted once per site, type and outcome.
    """
    keys = ["site", "failure_type"]
    counts = (outcomes.drop_duplicates([*keys, "customer", "outcome"])
              .groupby([*keys, "outcome"]).size().unstack("outcome", fill_value=0))
    counts = counts.reindex(columns=list(OUTCOMES), fill_value=0).reset_index()
    counts.columns.name = None
    counts["dissatisfied"] = counts[list(OUTCOMES)].sum(axis=1)
    counts["expected_lost"] = [
        round(expected_lost(row, rates), 2)
        for row in counts[list(OUTCOMES)].to_dict("records")]
    for outcome in OUTCOMES:
        counts[f"repurchase_rate_{outcome}"] = getattr(rates, outcome)
    return counts.sort_values(["expected_lost", *keys], ascending=[False, True, True],
                              ignore_index=True)


def drivers(items: pd.DataFrame) -> pd.DataFrame:
    """How much of a site's negativity goes with each failure type.

    For each site (and overall) and type: the negative share of all feedback, the negative share
    of the feedback that does not mention the type, and the difference in points: how far
    negativity would fall if the type's items were simply absent. Where ratings exist, the same
    for the mean rating. It measures association in the text, not cause.
    """
    frame = _with_overall(items.assign(negative=items["sentiment"] == "negative"))
    rows = []
    for site, group in frame.groupby("site"):
        types = sorted({t for ts in group["failure_types"] for t in ts})
        share = group["negative"].mean()
        rating = pd.to_numeric(group["rating"], errors="coerce")
        for failure_type in types:
            has = group["failure_types"].map(lambda ts, t=failure_type: t in ts).to_numpy()
            without = group.loc[~has, "negative"]
            share_without = without.mean() if len(without) else np.nan
            rows.append({
                "site": site, "failure_type": failure_type, "items": len(group),
                "type_items": int(has.sum()),
                "type_negative_share": group.loc[has, "negative"].mean(),
                "negative_share": share, "negative_share_without_type": share_without,
                "negativity_points": (share - share_without) * 100,
                "mean_rating": rating.mean(),
                "mean_rating_without_type": rating[~has].mean(),
            })
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["rating_points"] = out["mean_rating_without_type"] - out["mean_rating"]
    return out.sort_values(["site", "negativity_points"], ascending=[True, False],
                           ignore_index=True)
