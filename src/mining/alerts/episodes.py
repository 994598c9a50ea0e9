"""Episodes: a spike opens one, later spikes extend it, calm buckets close it.

Rebuilt from the whole scored history on every run, so the same data always gives the same
episodes and alert ids; the outbox stores each alert once, so a rerun sends nothing new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from mining.alerts.detect import DetectorConfig


@dataclass
class Episode:
    episode_id: str
    site: str
    failure_type: str
    opened_at: pd.Timestamp
    last_spike_at: pd.Timestamp
    closed_at: pd.Timestamp | None = None
    spike_buckets: int = 1
    peak_negative: int = 0
    alerts: list[dict[str, object]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "closed" if self.closed_at is not None else "open"


def episode_id(site: str, failure_type: str, opened_at: pd.Timestamp) -> str:
    raw = f"{site}\x1f{failure_type}\x1f{opened_at.isoformat()}"
    return "ep-" + hashlib.sha256(raw.encode()).hexdigest()[:16]


def _alert(episode: Episode, kind: str, row: pd.Series) -> dict[str, object]:
    number = len(episode.alerts)
    return {
        "alert_id": f"{episode.episode_id}-{number}", "episode_id": episode.episode_id,
        "kind": kind, "site": episode.site, "failure_type": episode.failure_type,
        "bucket": row["bucket"], "negative": int(row["negative"]), "total": int(row["total"]),
        "expected": float(row["expected"]), "baseline_share": float(row["baseline_share"]),
        "p_value": float(row["p_value"]),
    }


def build_episodes(scored: pd.DataFrame, config: DetectorConfig) -> list[Episode]:
    """Walk each series in time order. One 'opened' alert per episode, plus a 'grew' alert when
    a later spike reaches grow_ratio × the negatives last alerted."""
    episodes: list[Episode] = []
    for (site, failure_type), series in scored.sort_values("bucket").groupby(
            ["site", "failure_type"], sort=True):
        current: Episode | None = None
        calm = 0
        for _, row in series.iterrows():
            if row["is_spike"]:
                calm = 0
                if current is None:
                    current = Episode(episode_id(str(site), str(failure_type), row["bucket"]),
                                      str(site), str(failure_type), row["bucket"],
                                      row["bucket"], peak_negative=int(row["negative"]))
                    current.alerts.append(_alert(current, "opened", row))
                    episodes.append(current)
                    continue
                current.last_spike_at = row["bucket"]
                current.spike_buckets += 1
                last_alerted = int(current.alerts[-1]["negative"])  # type: ignore[call-overload]
                if row["negative"] >= config.grow_ratio * last_alerted:
                    current.alerts.append(_alert(current, "grew", row))
                current.peak_negative = max(current.peak_negative, int(row["negative"]))
            elif current is not None:
                calm += 1
                if calm >= config.calm_buckets:
                    current.closed_at = row["bucket"]
                    current = None
                    calm = 0
    return episodes


def episodes_frame(episodes: list[Episode]) -> pd.DataFrame:
    return pd.DataFrame([{
        "episode_id": e.episode_id, "site": e.site, "failure_type": e.failure_type,
        "opened_at": e.opened_at, "last_spike_at": e.last_spike_at, "closed_at": e.closed_at,
        "status": e.status, "spike_buckets": e.spike_buckets, "peak_negative": e.peak_negative,
        "alerts": len(e.alerts),
    } for e in episodes], columns=["episode_id", "site", "failure_type", "opened_at",
                                   "last_spike_at", "closed_at", "status", "spike_buckets",
                                   "peak_negative", "alerts"])
