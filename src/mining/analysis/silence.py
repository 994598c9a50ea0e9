"""Who told the business and who stayed silent: linking feedback to complaints, silent scores.

Pure functions over DataFrames; the store module does the reading and writing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mining.analysis.config import AnalysisConfig, LinkingConfig

LINK_COLUMNS = ["feedback_id", "complaint_id", "method", "hours_apart"]
SILENT_RESPONSES = ("exit", "word_of_mouth", "third_party")


def _with_ids(frame: pd.DataFrame) -> pd.Series:
    ids = frame["customer_id"]
    return ids.notna() & (ids.astype("string").str.strip() != "")


def _within_window(pairs: pd.DataFrame, window_hours: float) -> pd.DataFrame:
    hours = (pairs["created_at_c"] - pairs["created_at_f"]).dt.total_seconds().abs() / 3600
    return pairs.assign(hours_apart=hours)[hours <= window_hours]


def _greedy_one_to_one(pairs: pd.DataFrame) -> pd.DataFrame:
    """Nearest pairs first; each feedback item and each complaint used at most once."""
    used_f: set[str] = set()
    used_c: set[str] = set()
    keep = []
    for i, f_id, c_id in zip(pairs.index, pairs["feedback_id"], pairs["complaint_id"],
                             strict=True):
        if f_id not in used_f and c_id not in used_c:
            used_f.add(f_id)
            used_c.add(c_id)
            keep.append(i)
    return pairs.loc[keep]


def link_feedback_to_complaints(feedback: pd.DataFrame, complaints: pd.DataFrame,
                                config: LinkingConfig) -> pd.DataFrame:
    """At most one complaint per feedback item.

    Both frames have item_id, site, created_at, customer_id (may be null) and failure_types
    (list). By id: the same customer within the window; one complaint may answer several items
    of that customer (many-to-one). By window, when either side has no id: the same site within
    the window and, if configured, a shared failure type; an anonymous complaint stands for one
    customer, so window links pair one complaint with one item, nearest in time first. Ties go
    to the smaller ids, so the result is deterministic.
    """
    if feedback.empty or complaints.empty:
        return pd.DataFrame(columns=LINK_COLUMNS)
    f = feedback.assign(_has_id=_with_ids(feedback))
    c = complaints.assign(_has_id=_with_ids(complaints))
    names = {"item_id_f": "feedback_id", "item_id_c": "complaint_id"}

    by_id = f[f["_has_id"]].merge(c[c["_has_id"]], on="customer_id", suffixes=("_f", "_c"))
    by_id = _within_window(by_id, config.window_hours).rename(columns=names)
    by_id = (by_id.assign(method="customer_id")
             .sort_values(["feedback_id", "hours_apart", "complaint_id"])
             .drop_duplicates("feedback_id"))

    # A complaint already matched to its own customer's feedback explains nothing else.
    f_any = f[~f["item_id"].isin(by_id["feedback_id"])]
    c_any = c[~c["item_id"].isin(by_id["complaint_id"])]
    if config.require_failure_type_match:
        f_any = f_any.explode("failure_types").dropna(subset=["failure_types"])
        c_any = c_any.explode("failure_types").dropna(subset=["failure_types"])
        keys = ["site", "failure_types"]
    else:
        keys = ["site"]
    by_window = f_any.merge(c_any, on=keys, suffixes=("_f", "_c"))
    # Window links never join two different known customers.
    by_window = by_window[~(by_window["_has_id_f"] & by_window["_has_id_c"])]
    by_window = _within_window(by_window, config.window_hours).rename(columns=names)
    by_window = by_window.drop_duplicates(["feedback_id", "complaint_id"]).sort_values(
        ["hours_apart", "feedback_id", "complaint_id"])
    by_window = _greedy_one_to_one(by_window).assign(method="window")

    links = pd.concat([by_id[LINK_COLUMNS], by_window[LINK_COLUMNS]], ignore_index=True)
    return links.sort_values("feedback_id", ignore_index=True)


def silent_scores(signals: pd.DataFrame, config: AnalysisConfig) -> np.ndarray:
    """Noisy-OR of the weighted signals (each in [0, 1]); voiced items score 0."""
    weights = config.silent_score.weights.model_dump()
    keep = np.ones(len(signals))
    for name, weight in weights.items():
        keep *= 1.0 - weight * signals[name].to_numpy(dtype=float).clip(0.0, 1.0)
    return np.where(signals["voiced"].to_numpy(dtype=bool), 0.0, 1.0 - keep)


def assess_silence(items: pd.DataFrame, links: pd.DataFrame,
                   config: AnalysisConfig) -> pd.DataFrame:
    """One row per feedback item: voiced or silent, the signals and the silent score.

    `items` has item_id, sentiment, sentiment_score, responses (list), response_scores (dict)
    and rating (may be null).
    """
    linked = links.set_index("feedback_id")["complaint_id"] if len(links) else pd.Series(
        dtype="string")
    complaint_id = items["item_id"].map(linked)
    says_voice = items["responses"].map(lambda r: "voice" in list(r)).astype(bool)
    negative = (items["sentiment"] == "negative").to_numpy()
    rating = pd.to_numeric(items["rating"], errors="coerce")
    polite = ((rating >= config.polite_silence.satisfied_at_or_above) & negative).fillna(False)
    polite = polite.astype(bool)
    voiced = complaint_id.notna() | says_voice
    voice_source = pd.Series(None, index=items.index, dtype=object)
    voice_source[says_voice] = "text"
    voice_source[complaint_id.notna()] = "complaint"

    signals = pd.DataFrame({
        "voiced": voiced.to_numpy(),
        "negativity": np.where(negative, items["sentiment_score"].to_numpy(dtype=float), 0.0),
        "polite_silence": polite.to_numpy(dtype=float),
    })
    for response in SILENT_RESPONSES:
        signals[response] = items["response_scores"].map(
            lambda s, r=response: float(s.get(r, 0.0))).to_numpy()
    has_silent_response = items["responses"].map(
        lambda r: any(x in SILENT_RESPONSES for x in r)).to_numpy(dtype=bool)

    def signal_names(row: int) -> list[str]:
        names = [r for r in SILENT_RESPONSES if r in items["responses"].iloc[row]]
        if polite.iloc[row]:
            names.append("polite_silence")
        if negative[row]:
            names.append("negativity")
        return names

    return pd.DataFrame({
        "item_id": items["item_id"].to_numpy(),
        "voiced": voiced.to_numpy(dtype=bool),
        "voice_source": voice_source.to_numpy(),
        "complaint_id": complaint_id.to_numpy(),
        "polite_silence": polite.to_numpy(dtype=bool),
        "silent": (~voiced.to_numpy(dtype=bool)) & (negative | has_silent_response),
        "silent_signals": [signal_names(i) for i in range(len(items))],
        "silent_score": silent_scores(signals, config).round(4),
    })
