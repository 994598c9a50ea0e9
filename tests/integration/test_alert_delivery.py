"""Alerts through real local receivers: an HTTP server (webhook, Slack, Teams) and an SMTP server.

The store is a real DuckDB file holding hand-made classified feedback, so the series are known.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mining.alerts.config import AlertsConfig
from mining.alerts.notify import build_notifiers
from mining.alerts.service import acknowledge, run_alerts
from mining.analysis.config import AnalysisConfig
from mining.analysis.refresh import refresh_analysis
from mining.pipeline import refresh_aggregates
from mining.store.db import Store
from mining.taxonomy import Taxonomy
from tests.support.receivers import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAY0 = pd.Timestamp("2015-02-01")
T0 = datetime(2015, 2, 20, 12, 0)
CHANNELS = ("webhook", "slack", "teams", "mail")


def daily(days: dict[int, tuple[int, int]], site: str = "Delta") -> pd.DataFrame:
    """{day: (items, negative items about waiting)}"""
    rows = []
    for day, (total, negative) in days.items():
        for i in range(total):
            bad = i < negative
            rows.append({
                "item_id": f"{site}-{day}-{i}", "site": site,
                "created_at": DAY0 + pd.Timedelta(days=day, minutes=i),
                "text": (f"waited {i} hours at the gate, write me at pat{i}@example.com" if bad
                         else f"fine flight number {i}"),
                "sentiment": "negative" if bad else "positive",
                "failure_types": ["waiting"] if bad else [],
            })
    return pd.DataFrame(rows)


def load(store: Store, frame: pd.DataFrame) -> None:
    n = len(frame)
    now = pd.Timestamp("2015-03-01")
    feedback = pd.DataFrame({
        "item_id": frame["item_id"], "source": "test", "external_id": frame["item_id"],
        "content_hash": frame["item_id"], "created_at": frame["created_at"],
        "site": frame["site"], "language": "en", "text": frame["text"], "run_id": "r",
        "ingested_at": now})
    predictions = pd.DataFrame({
        "item_id": frame["item_id"], "model_version": "m/1", "item_kind": "feedback",
        "content_hash": frame["item_id"], "sentiment": frame["sentiment"],
        "sentiment_score": [0.9] * n, "failure_types": frame["failure_types"],
        "failure_scores": ["{}"] * n, "responses": [[] for _ in range(n)],
        "response_scores": ["{}"] * n, "run_id": "r", "predicted_at": now})
    store.insert_arrow("feedback", pa.Table.from_pandas(feedback, preserve_index=False))
    store.insert_arrow("predictions", pa.Table.from_pandas(predictions, preserve_index=False))
    taxonomy = Taxonomy.load(REPO / "config" / "taxonomy.yaml")
    refresh_aggregates(store, taxonomy)
    refresh_analysis(store, taxonomy, AnalysisConfig())


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WebhookReceiver, SmtpReceiver]]:
    http, smtp = WebhookReceiver(), SmtpReceiver()
    monkeypatch.setenv("T_WEBHOOK_URL", http.url("/webhook"))
    monkeypatch.setenv("T_SLACK_URL", http.url("/slack"))
    monkeypatch.setenv("T_TEAMS_URL", http.url("/teams"))
    monkeypatch.setenv("T_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("T_SMTP_PORT", str(smtp.port))
    yield http, smtp
    http.close()
    smtp.close()


def alerts_config(tmp_path: Path, ack_hours: float = 24) -> AlertsConfig:
    return AlertsConfig.model_validate({
        "report_path": str(tmp_path / "report.html"), "ack_hours": ack_hours,
        "retry": {"base_seconds": 60, "max_seconds": 3600, "max_attempts": 10},
        "channels": {
            "webhook": {"type": "webhook", "url_env": "T_WEBHOOK_URL"},
            "slack": {"type": "slack", "url_env": "T_SLACK_URL"},
            "teams": {"type": "teams", "url_env": "T_TEAMS_URL"},
            "mail": {"type": "email", "to": ["delta.manager@example.com"],
                     "host_env": "T_SMTP_HOST", "port_env": "T_SMTP_PORT"},
            "director-mail": {"type": "email", "to": ["director@example.com"],
                              "host_env": "T_SMTP_HOST", "port_env": "T_SMTP_PORT"},
        },
        "managers": {
            "delta": {"name": "Delta manager", "channels": list(CHANNELS)},
            "duty": {"name": "Duty manager", "channels": ["webhook"]},
            "director": {"name": "Director", "channels": ["director-mail"]},
        },
        "routes": {"Delta": "delta"}, "default_manager": "duty",
        "escalation_manager": "director",
    })


def run(store: Store, config: AlertsConfig, now: datetime, run_id: str = "run"):
    return run_alerts(store, config, Taxonomy.load(REPO / "config" / "taxonomy.yaml"),
                      build_notifiers(config.channels), run_id, now=now)


SPIKE = {d: (40, 2) for d in range(12)} | {12: (40, 16)}


def test_a_spike_sends_one_alert_per_channel_and_a_rerun_sends_nothing(
        tmp_path: Path, receivers: tuple[WebhookReceiver, SmtpReceiver]) -> None:
    http, smtp = receivers
    config = alerts_config(tmp_path)
    with Store.open(tmp_path / "radar.duckdb") as store:
        load(store, daily(SPIKE))
        counts = run(store, config, T0)
        # The waiting series and the site's any-type series both spike: two alerts.
        assert counts.alerts_new == 2 and counts.sent == 2 * len(CHANNELS)
        for path in ("/webhook", "/slack", "/teams"):
            assert len(http.on(path)) == 2
        assert len(smtp.messages) == 2
        alert = next(p.body["alert"] for p in http.on("/webhook")
                     if p.body["alert"]["failure_type"] == "waiting")
        assert alert["site"] == "Delta" and alert["root_cause"] == "process_system"
        assert alert["negative"] == 16 and alert["expected"] < 4 and alert["p_value"] < 1e-3
        assert alert["silent_share"] == 1.0 and len(alert["examples"]) == 3
        assert all("@example.com" not in t and "[EMAIL]" in t for t in alert["examples"])
        assert alert["report"].endswith("report.html")
        assert any("Spike: waiting at Delta" in p.body["text"] for p in http.on("/slack"))
        assert http.on("/teams")[0].body["attachments"][0]["content"]["type"] == "AdaptiveCard"
        assert all("@example.com" not in m.get_content() for m in smtp.messages)
        keys = [p.key for p in http.on("/webhook")]
        assert len(set(keys)) == 2 and all(keys)

        again = run(store, config, T0 + timedelta(minutes=5), "run-2")
        assert (again.alerts_new, again.sent) == (0, 0)
        assert len(http.posts) == 6 and len(smtp.messages) == 2


def test_a_flat_series_sends_nothing(tmp_path: Path,
                                     receivers: tuple[WebhookReceiver, SmtpReceiver]) -> None:
    http, smtp = receivers
    with Store.open(tmp_path / "radar.duckdb") as store:
        load(store, daily({d: (40, 2 + d % 2) for d in range(13)}))
        counts = run(store, alerts_config(tmp_path), T0)
    assert counts.series_buckets_tested > 0
    assert (counts.spikes, counts.alerts_new, counts.sent) == (0, 0, 0)
    assert http.posts == [] and smtp.messages == []


def test_a_channel_down_loses_nothing_and_delivers_once_later(
        tmp_path: Path, receivers: tuple[WebhookReceiver, SmtpReceiver]) -> None:
    http, smtp = receivers
    config = alerts_config(tmp_path)
    with Store.open(tmp_path / "radar.duckdb") as store:
        load(store, daily(SPIKE))
        http.down = True
        first = run(store, config, T0)
        # The HTTP channels failed; e-mail went out regardless.
        assert first.sent == 2 and first.failed_attempts == 6 and first.pending == 6
        assert len(smtp.messages) == 2 and http.posts == []

        http.down = False
        early = run(store, config, T0 + timedelta(seconds=30), "run-2")
        assert early.sent == 0  # backoff: not due yet
        later = run(store, config, T0 + timedelta(minutes=2), "run-3")
        assert (later.sent, later.pending) == (6, 0)
        assert sum(len(http.on(p)) for p in ("/webhook", "/slack", "/teams")) == 6
        final = run(store, config, T0 + timedelta(hours=1), "run-4")
        assert final.sent == 0 and len(http.posts) == 6 and len(smtp.messages) == 2
        attempts = store.fetch_arrow("SELECT channel, attempts FROM alert_deliveries "
                                     "WHERE channel = 'webhook'").to_pylist()
        assert {a["attempts"] for a in attempts} == {2}


def test_a_crash_between_send_and_record_repeats_the_same_key(
        tmp_path: Path, receivers: tuple[WebhookReceiver, SmtpReceiver]) -> None:
    http, _ = receivers
    config = alerts_config(tmp_path)
    with Store.open(tmp_path / "radar.duckdb") as store:
        load(store, daily(SPIKE))
        run(store, config, T0)
        # As if the process died after the receiver accepted but before 'sent' was stored.
        store.execute("UPDATE alert_deliveries SET status = 'pending' WHERE channel = 'webhook'")
        run(store, config, T0 + timedelta(minutes=1), "run-2")
    posts = http.on("/webhook")
    assert len(posts) == 4  # each alert sent twice...
    assert len(http.unique_deliveries("/webhook")) == 2  # ...but acted on once


def test_unacknowledged_alerts_escalate_after_the_window(
        tmp_path: Path, receivers: tuple[WebhookReceiver, SmtpReceiver]) -> None:
    _, smtp = receivers
    config = alerts_config(tmp_path, ack_hours=4)
    with Store.open(tmp_path / "radar.duckdb") as store:
        load(store, daily(SPIKE))
        run(store, config, T0)
        alert_ids = sorted(r["alert_id"] for r in store.fetch_arrow(
            "SELECT alert_id FROM alerts").to_pylist())
        assert acknowledge(store, alert_ids[0], "delta.manager")
        inside = run(store, config, T0 + timedelta(hours=3), "run-2")
        assert inside.escalations_new == 0
        after = run(store, config, T0 + timedelta(hours=5), "run-3")
        assert after.escalations_new == 1 and after.sent == 1
        director = [m for m in smtp.messages if m["To"] == "director@example.com"]
        assert len(director) == 1 and "ESCALATION" in director[0]["Subject"]
        assert alert_ids[1] in director[0].get_content()
        assert run(store, config, T0 + timedelta(hours=9), "run-4").escalations_new == 0
    assert not acknowledge_missing(tmp_path)


def acknowledge_missing(tmp_path: Path) -> bool:
    with Store.open(tmp_path / "radar.duckdb") as store:
        return acknowledge(store, "no-such-alert", "x")


def test_the_file_channel_writes_json_lines(tmp_path: Path) -> None:
    config = AlertsConfig.model_validate({
        "channels": {"file": {"type": "file", "path": str(tmp_path / "alerts.jsonl")}},
        "managers": {"duty": {"name": "Duty", "channels": ["file"]}},
        "default_manager": "duty"})
    with Store.open(tmp_path / "radar.duckdb") as store:
        load(store, daily(SPIKE))
        counts = run(store, config, T0)
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert counts.sent == len(lines) == 2
    assert {x["failure_type"] for x in lines} == {"waiting", "(any)"}
