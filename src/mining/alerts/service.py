"""From stored feedback to delivered alerts: detect, record in the outbox, escalate, deliver.

Exactly-once towards a well-behaved receiver: an alert id is derived from its episode, the
outbox keeps it once, each (alert, channel, purpose) delivery is marked sent right after the
channel accepts it, and every send carries the same idempotency key, so a crash between send and
record leads to one repeat that the receiver recognises. A failing channel is retried with
backoff on later runs and never blocks the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from mining.alerts.config import AlertsConfig, RetryConfig
from mining.alerts.detect import ANY_TYPE, detect_spikes, series_counts
from mining.alerts.episodes import build_episodes, episodes_frame
from mining.alerts.notify import AlertMessage, Notifier
from mining.redact import redact
from mining.store.db import Store, utcnow
from mining.taxonomy import Taxonomy

log = logging.getLogger(__name__)
EXAMPLES = 3
EXAMPLE_CHARS = 280


@dataclass(frozen=True)
class AlertCounts:
    series_buckets_tested: int
    spikes: int
    episodes_open: int
    alerts_new: int
    escalations_new: int
    sent: int
    failed_attempts: int
    pending: int


def bucket_step(bucket: str) -> pd.Timedelta:
    return pd.Timedelta(hours=1) if bucket == "hour" else pd.Timedelta(days=1)


def _items(store: Store) -> pd.DataFrame:
    items = store.query("alert_items").to_pandas()
    items["created_at"] = pd.to_datetime(items["created_at"])
    items["failure_types"] = items["failure_types"].map(lambda v: [str(x) for x in v])
    return items


# Why lines for example items (by item id), explained when the alert chooses them.
ExplainExamples = Callable[[Store, list[str]], dict[str, str]]


def evidence(items: pd.DataFrame, site: str, failure_type: str, start: pd.Timestamp,
             end: pd.Timestamp) -> tuple[float | None, list[str], list[str]]:
    """Silent share of the bucket's negative items, up to three redacted examples and their
    item ids."""
    mask = ((items["site"] == site) & (items["sentiment"] == "negative")
            & (items["created_at"] >= start) & (items["created_at"] < end))
    if failure_type != ANY_TYPE:
        mask &= items["failure_types"].map(lambda t: failure_type in t)
    chosen = items[mask]
    if chosen.empty:
        return None, [], []
    share = float(chosen["silent"].fillna(False).astype(bool).mean())
    top = chosen.sort_values(["silent_score", "sentiment_score", "item_id"],
                             ascending=[False, False, True]).head(EXAMPLES)
    examples = [redact(str(t))[:EXAMPLE_CHARS] for t in top["text"]]
    return share, examples, [str(i) for i in top["item_id"]]


def new_alert_rows(items: pd.DataFrame, config: AlertsConfig, taxonomy: Taxonomy,
                   run_id: str, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """Alerts of recent spikes (pure): (alerts, episodes, series-buckets tested, spikes)."""
    detector = config.detector
    scored = detect_spikes(series_counts(items, detector.bucket), detector)
    episodes = build_episodes(scored, detector)
    step = bucket_step(detector.bucket)
    rows = []
    if len(scored):
        cutoff = scored["bucket"].max() - step * (config.recent_buckets - 1)
        for episode in episodes:
            for alert in episode.alerts:
                start = pd.Timestamp(alert["bucket"])
                if start < cutoff:
                    continue
                share, examples, example_items = evidence(
                    items, episode.site, episode.failure_type, start, start + step)
                root = ("(any)" if episode.failure_type == ANY_TYPE else
                        taxonomy.root_cause_of(episode.failure_type)
                        if episode.failure_type in taxonomy.failure_types else "unknown")
                rows.append({
                    "alert_id": alert["alert_id"], "episode_id": episode.episode_id,
                    "kind": alert["kind"], "site": episode.site,
                    "failure_type": episode.failure_type, "root_cause": root,
                    "window_start": start, "window_end": start + step,
                    "negative": alert["negative"], "total": alert["total"],
                    "expected": alert["expected"], "baseline_share": alert["baseline_share"],
                    "p_value": alert["p_value"], "silent_share": share, "examples": examples,
                    "example_items": example_items,
                    "report": config.report_path,
                    "manager": config.routes.get(episode.site, config.default_manager),
                    "run_id": run_id, "created_at": now,
                })
    tested = int(scored["p_value"].notna().sum()) if len(scored) else 0
    spikes = int(scored["is_spike"].sum()) if len(scored) else 0
    return pd.DataFrame(rows), episodes_frame(episodes), tested, spikes


def _deliveries(alert_ids: list[str], manager_channels: list[list[str]], purpose: str,
                now: datetime) -> pa.Table:
    rows = [{"alert_id": a, "channel": c, "purpose": purpose,
             "idempotency_key": f"{a}:{c}:{purpose}", "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for a, channels in zip(alert_ids, manager_channels, strict=True) for c in channels]
    return pa.Table.from_pylist(rows) if rows else pa.table({})


def record_alerts(store: Store, alerts: pd.DataFrame, episodes: pd.DataFrame,
                  config: AlertsConfig, now: datetime) -> int:
    """Episodes replaced, new alerts and their deliveries added; returns alerts added."""
    with store.transaction():
        store.replace_rows("alert_episodes", pa.Table.from_pandas(episodes, preserve_index=False))
        if alerts.empty:
            return 0
        # Alert ids are derived from episodes: one already in the outbox is not added again,
        # and its deliveries keep their state (primary keys, ON CONFLICT DO NOTHING).
        added = store.insert_arrow("alerts", pa.Table.from_pandas(alerts, preserve_index=False))
        channels = [config.managers[m].channels for m in alerts["manager"]]
        store.insert_arrow("alert_deliveries",
                           _deliveries(list(alerts["alert_id"]), channels, "alert", now))
    return added


def escalate(store: Store, config: AlertsConfig, now: datetime) -> int:
    """Unacknowledged alerts older than the ack window go to the escalation manager once."""
    if not config.escalation_manager:
        return 0
    due = [r[0] for r in store.fetch_rows("alerts_to_escalate",
                                          [now - timedelta(hours=config.ack_hours)])]
    if not due:
        return 0
    channels = config.managers[config.escalation_manager].channels
    with store.transaction():
        store.insert_arrow("alert_deliveries",
                           _deliveries(due, [channels] * len(due), "escalation", now))
    return len(due)


def backoff(attempts: int, retry: RetryConfig) -> timedelta:
    """Exponential: base × 2^(attempts-1), capped."""
    return timedelta(seconds=min(retry.max_seconds, retry.base_seconds * 2 ** (attempts - 1)))


def message_from(row: dict[str, Any], purpose: str, config: AlertsConfig) -> AlertMessage:
    escalation = purpose == "escalation"
    return AlertMessage(
        alert_id=str(row["alert_id"]), kind="escalation" if escalation else str(row["kind"]),
        site=str(row["site"]), failure_type=str(row["failure_type"]),
        root_cause=str(row["root_cause"]), window_start=str(row["window_start"]),
        window_end=str(row["window_end"]), negative=int(row["negative"]),
        total=int(row["total"]), expected=float(row["expected"]),
        baseline_share=float(row["baseline_share"]), p_value=float(row["p_value"]),
        silent_share=None if row["silent_share"] is None else float(row["silent_share"]),
        examples=[str(t) for t in row["examples"]], report=str(row["report"]),
        manager=str(config.escalation_manager if escalation else row["manager"]),
        example_why=[str(w) for w in row.get("example_why") or []])


def deliver_due(store: Store, notifiers: dict[str, Notifier], config: AlertsConfig,
                now: datetime) -> tuple[int, int]:
    """Try every due delivery once; returns (sent, failed attempts). Never raises for a channel."""
    sent = failed = 0
    for row in store.query("due_deliveries", [now]).to_pylist():
        key = (row["alert_id"], row["channel"], row["purpose"])
        try:
            notifier = notifiers[row["channel"]]
            notifier.send(message_from(row, row["purpose"], config), row["idempotency_key"])
        except Exception as exc:  # a broken channel must not stop the others
            attempts = int(row["attempts"]) + 1
            give_up = attempts >= config.retry.max_attempts
            error = redact(f"{type(exc).__name__}: {exc}")[:500]
            log.warning("delivery %s via %s failed (attempt %d): %s", row["alert_id"],
                        row["channel"], attempts, error)
            with store.transaction():
                store.fetch_rows("record_delivery_failed", [
                    now, now + backoff(attempts, config.retry),
                    "failed" if give_up else "pending", error, *key])
            failed += 1
            continue
        with store.transaction():
            store.fetch_rows("record_delivery_sent", [now, *key])
        sent += 1
    return sent, failed


def with_why_lines(store: Store, alerts: pd.DataFrame,
                   explain: ExplainExamples) -> pd.DataFrame:
    """The new alerts' example items explained (only theirs), a why line per example."""
    known = {r[0] for r in store.fetch_rows("alerts_known", [list(alerts["alert_id"])])}
    new = alerts[~alerts["alert_id"].isin(known)]
    ids = list(dict.fromkeys(i for items in new["example_items"] for i in items))
    why = explain(store, ids) if ids else {}
    return alerts.assign(example_why=[[why.get(i, "") for i in items]
                                      for items in alerts["example_items"]])


def run_alerts(store: Store, config: AlertsConfig, taxonomy: Taxonomy,
               notifiers: dict[str, Notifier], run_id: str,
               now: datetime | None = None, explain: ExplainExamples | None = None
               ) -> AlertCounts:
    """`explain`, when given, adds to each new alert's examples the words behind their type."""
    now = now or utcnow()
    alerts, episodes, tested, spikes = new_alert_rows(_items(store), config, taxonomy, run_id,
                                                      now)
    if explain is not None and not alerts.empty:
        alerts = with_why_lines(store, alerts, explain)
    added = record_alerts(store, alerts, episodes, config, now)
    escalated = escalate(store, config, now)
    sent, failed = deliver_due(store, notifiers, config, now)
    pending = store.fetch_rows("pending_deliveries")[0][0]
    counts = AlertCounts(tested, spikes, int((episodes["status"] == "open").sum())
                         if len(episodes) else 0, added, escalated, sent, failed, int(pending))
    log.info("alerts: %s", counts)
    return counts


def acknowledge(store: Store, alert_id: str, who: str, now: datetime | None = None) -> bool:
    with store.transaction():
        rows = store.fetch_rows("ack_alert", [now or utcnow(), who, alert_id])
    return bool(rows)
