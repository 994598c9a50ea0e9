"""Channels behind one small protocol: JSON webhook, Slack, Teams, e-mail (SMTP), JSON-lines file.

Each send carries an idempotency key (an `Idempotency-Key` header, the e-mail Message-ID, a
field in the file) so a receiver that keeps keys ignores a repeat after a crash. Written on httpx
and smtplib rather than Apprise or Prefect blocks: those fix headers per URL or block while each
message here needs its own key, and Apprise's notify() returns only True/False where the outbox
wants the status or error of each attempt. The payloads follow the Slack and Teams
incoming-webhook formats.
"""

from __future__ import annotations

import json
import os
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from mining.alerts.config import Channel, EmailChannel, FileChannel, WebhookChannel


@dataclass(frozen=True)
class AlertMessage:
    """What a manager reads. Texts are redacted before they get here."""

    alert_id: str
    kind: str  # opened | grew | escalation
    site: str
    failure_type: str
    root_cause: str
    window_start: str
    window_end: str
    negative: int
    total: int
    expected: float
    baseline_share: float
    p_value: float
    silent_share: float | None
    examples: list[str]
    report: str
    manager: str
    # Per example: 'why: «words» → failure type' (the words behind its label), or ''.
    example_why: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        prefix = "ESCALATION: " if self.kind == "escalation" else (
            "Spike growing: " if self.kind == "grew" else "Spike: ")
        return f"{prefix}{self.failure_type} at {self.site}"

    def summary(self) -> str:
        silent = "n/a" if self.silent_share is None else f"{self.silent_share:.0%}"
        return (f"{self.negative} negative items about {self.failure_type} "
                f"(root cause {self.root_cause}) at {self.site}, {self.window_start} to "
                f"{self.window_end}; expected {self.expected:.1f} from a baseline of "
                f"{self.baseline_share:.1%} of {self.total} items; p = {self.p_value:.2g}. "
                f"Silent (no complaint filed): {silent}.")

    def examples_with_why(self) -> list[str]:
        """Each example, followed on its own line by its why line when it has one."""
        why = [*self.example_why, *[""] * len(self.examples)]
        return [f"{t}\n    {w}" if w else t for t, w in zip(self.examples, why, strict=False)]

    def as_text(self) -> str:
        examples = "\n".join(f"  - {t}" for t in self.examples_with_why()) or "  (none)"
        return (f"{self.title}\n\n{self.summary()}\n\nExamples:\n{examples}\n\n"
                f"Report: {self.report}\nAlert id: {self.alert_id}\n"
                f"Acknowledge: mining alerts ack {self.alert_id}\n")

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()} | {"title": self.title}


class Notifier(Protocol):
    def send(self, message: AlertMessage, idempotency_key: str) -> None:
        """Deliver or raise; never partially succeed silently."""


class ChannelNotConfigured(RuntimeError):
    """The channel's secret (URL, host) is missing from the environment."""


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ChannelNotConfigured(f"environment variable {name} is not set")
    return value


class WebhookNotifier:
    def __init__(self, channel: WebhookChannel) -> None:
        self.channel = channel

    def payload(self, message: AlertMessage, key: str) -> dict[str, Any]:
        if self.channel.type == "slack":
            return {"text": f"*{message.title}*\n{message.summary()}", "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": message.summary()}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
                    f"> {t}" for t in message.examples_with_why()) or "(no examples)"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text":
                    f"Report: {message.report} · alert {message.alert_id}"}]},
            ]}
        if self.channel.type == "teams":
            return {"type": "message", "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.4", "body": [
                    {"type": "TextBlock", "size": "Large", "weight": "Bolder",
                     "text": message.title},
                    {"type": "TextBlock", "wrap": True, "text": message.summary()},
                    *[{"type": "TextBlock", "wrap": True, "isSubtle": True, "text": t}
                      for t in message.examples_with_why()],
                    {"type": "TextBlock", "text": f"Report: {message.report}"},
                ]}}]}
        return {"idempotency_key": key, "alert": message.as_json()}

    def send(self, message: AlertMessage, idempotency_key: str) -> None:
        url = _env(self.channel.url_env)
        response = httpx.post(url, json=self.payload(message, idempotency_key),
                              headers={"Idempotency-Key": idempotency_key},
                              timeout=self.channel.timeout_seconds)
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code} from {self.channel.type} webhook")


class EmailNotifier:
    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel

    def send(self, message: AlertMessage, idempotency_key: str) -> None:
        host = _env(self.channel.host_env)
        port = int(os.environ.get(self.channel.port_env, "25"))
        mail = EmailMessage()
        mail["Subject"] = f"[radar] {message.title}"
        mail["From"] = self.channel.sender
        mail["To"] = ", ".join(self.channel.to)
        mail["Message-ID"] = f"<{idempotency_key}@radar>"
        mail["X-Idempotency-Key"] = idempotency_key
        mail.set_content(message.as_text())
        with smtplib.SMTP(host, port, timeout=self.channel.timeout_seconds) as smtp:
            if self.channel.starttls:
                smtp.starttls()
            if self.channel.username_env:
                smtp.login(_env(self.channel.username_env),
                           _env(self.channel.password_env or ""))
            smtp.send_message(mail)


class FileNotifier:
    def __init__(self, channel: FileChannel) -> None:
        self.channel = channel

    def send(self, message: AlertMessage, idempotency_key: str) -> None:
        self.channel.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"idempotency_key": idempotency_key, **message.as_json()},
                          ensure_ascii=False)
        with self.channel.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def notifier_for(channel: Channel) -> Notifier:
    if isinstance(channel, WebhookChannel):
        return WebhookNotifier(channel)
    if isinstance(channel, EmailChannel):
        return EmailNotifier(channel)
    return FileNotifier(channel)


def build_notifiers(channels: dict[str, Channel]) -> dict[str, Notifier]:
    return {name: notifier_for(channel) for name, channel in channels.items()}
