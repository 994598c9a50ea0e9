"""How the spike detector behaves on real airline series: flagged episodes, false alarms on
shuffled (null) series, and detection rate of injected spikes by size.

    .venv/bin/python bench/spike_eval.py [--db data/radar_read.duckdb] [--permutations 200]

Series come from the real labelled tweets (../shared/data/airline_tweets: the human
`negativereason` mapped to failure types, the human sentiment), so the figures describe the
detector, not the classifier. With --db, the episodes the pipeline's own predictions give on the
bundled sample are listed too. Writes artifacts/spike_eval.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mining.alerts.detect import DetectorConfig, detect_spikes, series_counts
from mining.alerts.episodes import build_episodes
from mining.classify.data import AIRLINE_REASONS
from mining.store.db import read_named_queries

SIZES = (1.5, 2.0, 3.0, 5.0)


def labelled_items(shared: Path) -> pd.DataFrame:
    tweets = pd.read_csv(shared / "airline_tweets" / "tweets.csv", dtype={"tweet_id": str})
    reason = tweets["negativereason"].map(AIRLINE_REASONS)
    return pd.DataFrame({
        "site": tweets["airline"],
        "created_at": pd.to_datetime(tweets["tweet_created"], format="%m/%d/%Y %H:%M"),
        "sentiment": tweets["airline_sentiment"],
        "failure_types": [[r] if isinstance(r, str) else [] for r in reason],
    })


def episodes_table(items: pd.DataFrame, config: DetectorConfig) -> list[dict[str, object]]:
    scored = detect_spikes(series_counts(items, config.bucket), config)
    rows = []
    for episode in build_episodes(scored, config):
        for alert in episode.alerts:
            rows.append({"site": episode.site, "failure_type": episode.failure_type,
                         "day": str(pd.Timestamp(alert["bucket"]).date()), "kind": alert["kind"],
                         "negative": alert["negative"], "total": alert["total"],
                         "expected": round(float(alert["expected"]), 1),  # type: ignore[arg-type]
                         "p_value": float(f"{alert['p_value']:.2g}")})  # type: ignore[str-format]
    return rows


def shuffled(counts: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Each series' (negative, total) pairs in a random order of its own buckets."""
    parts = []
    for _, series in counts.groupby(["site", "failure_type"], sort=True):
        order = rng.permutation(len(series))
        parts.append(series.assign(negative=series["negative"].to_numpy()[order],
                                   total=series["total"].to_numpy()[order]))
    return pd.concat(parts, ignore_index=True)


def null_false_alarms(counts: pd.DataFrame, config: DetectorConfig, permutations: int,
                      rng: np.random.Generator) -> dict[str, float]:
    tested = alarms = 0
    for _ in range(permutations):
        scored = detect_spikes(shuffled(counts, rng), config)
        tested += int(scored["p_value"].notna().sum())
        alarms += int(scored["is_spike"].sum())
    return {"series_days_tested": tested, "false_alarms": alarms,
            "false_alarms_per_100_series_days": round(100 * alarms / max(tested, 1), 3)}


def injected_detection(counts: pd.DataFrame, config: DetectorConfig, trials: int,
                       rng: np.random.Generator) -> list[dict[str, object]]:
    """Add (size - 1) x the series' mean negatives on one random testable day of one series."""
    series = [s for _, s in counts.groupby(["site", "failure_type"], sort=True)
              if len(s) > config.min_history and s["negative"].mean() >= 1]
    results = []
    for size in SIZES:
        by_band: dict[str, list[bool]] = {"mean < 5 per day": [], "mean >= 5 per day": []}
        for _ in range(trials):
            base = shuffled(counts, rng)
            target = series[rng.integers(len(series))]
            site, failure_type = target["site"].iloc[0], target["failure_type"].iloc[0]
            rows = base.index[(base["site"] == site) & (base["failure_type"] == failure_type)]
            row = rows[rng.integers(config.min_history, len(rows))]
            mean = float(target["negative"].mean())
            extra = max(1, int(round((size - 1) * mean)))
            base.loc[row, ["negative", "total"]] += extra
            bucket = base.loc[row, "bucket"]
            scored = detect_spikes(base, config)
            hit = scored[(scored["site"] == site) & (scored["failure_type"] == failure_type)
                         & (scored["bucket"] == bucket)]["is_spike"].iloc[0]
            by_band["mean < 5 per day" if mean < 5 else "mean >= 5 per day"].append(bool(hit))
        for band, hits in by_band.items():
            if hits:
                results.append({"size": f"x{size:g}", "band": band, "trials": len(hits),
                                "detection_rate": round(float(np.mean(hits)), 3)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--db", type=Path, default=None,
                        help="A radar database (e.g. data/radar_read.duckdb) to list episodes")
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("artifacts/spike_eval.json"))
    args = parser.parse_args()
    config = DetectorConfig()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    items = labelled_items(args.shared)
    counts = series_counts(items, config.bucket)
    report: dict[str, object] = {"detector": config.model_dump(),
                                 "series": int(counts.groupby(["site", "failure_type"]).ngroups),
                                 "days": int(counts["bucket"].nunique())}
    report["episodes_labelled_tweets"] = episodes_table(items, config)
    if args.db:
        model_items = read_named_queries(args.db, ["alert_items"], [])["alert_items"]
        model_items["failure_types"] = model_items["failure_types"].map(list)
        report["episodes_sample_predictions"] = episodes_table(model_items, config)
    report["null"] = null_false_alarms(counts, config, args.permutations, rng)
    report["injected"] = injected_detection(counts, config, args.trials, rng)
    report["seconds"] = round(time.perf_counter() - started, 1)

    for key in ("episodes_labelled_tweets", "episodes_sample_predictions"):
        if key in report:
            print(f"\n{key}:")
            print(pd.DataFrame(report[key]).to_string(index=False))  # type: ignore[arg-type]
    print("\nnull (days shuffled within each series):", report["null"])
    print("\ninjected spikes:")
    print(pd.DataFrame(report["injected"]).to_string(index=False))  # type: ignore[arg-type]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"\nwritten to {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
