"""Typed alert configuration: detector, channels, managers, routes, retries, escalation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mining.alerts.detect import DetectorConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookChannel(_Strict):
    """Generic JSON webhook; Slack and Teams incoming webhooks take their own payload shape."""

    type: Literal["webhook", "slack", "teams"]
    url_env: str = Field(description="Environment variable holding the URL (a secret).")
    timeout_seconds: float = Field(10, gt=0)


class EmailChannel(_Strict):
    type: Literal["email"]
    to: list[str]
    sender: str = "radar@localhost"
    host_env: str = "RADAR_SMTP_HOST"
    port_env: str = "RADAR_SMTP_PORT"
    username_env: str | None = None
    password_env: str | None = None
    starttls: bool = False
    timeout_seconds: float = Field(10, gt=0)


class FileChannel(_Strict):
    """Appends one JSON line per alert: for the demo and for audit, no secrets needed."""

    type: Literal["file"]
    path: Path


Channel = Annotated[WebhookChannel | EmailChannel | FileChannel, Field(discriminator="type")]


class Manager(_Strict):
    name: str
    channels: list[str]


class RetryConfig(_Strict):
    base_seconds: float = Field(60, ge=0)
    max_seconds: float = Field(6 * 3600, ge=0)
    max_attempts: int = Field(50, ge=1)


class AlertsConfig(_Strict):
    detector: DetectorConfig = DetectorConfig()
    recent_buckets: int = Field(2, ge=1, description="Alert only on spikes this recent.")
    report_path: str = "data/report.html"
    channels: dict[str, Channel] = {}
    managers: dict[str, Manager] = {}
    routes: dict[str, str] = Field({}, description="site -> manager")
    default_manager: str
    escalation_manager: str | None = None
    ack_hours: float = Field(24, gt=0)
    retry: RetryConfig = RetryConfig()

    @model_validator(mode="after")
    def _references_exist(self) -> AlertsConfig:
        for key, manager in self.managers.items():
            unknown = set(manager.channels) - set(self.channels)
            if unknown:
                raise ValueError(f"manager {key!r} uses unknown channels {sorted(unknown)}")
        named = [*self.routes.values(), self.default_manager]
        if self.escalation_manager:
            named.append(self.escalation_manager)
        missing = set(named) - set(self.managers)
        if missing:
            raise ValueError(f"unknown managers {sorted(missing)}")
        return self

    def manager_for(self, site: str) -> Manager:
        return self.managers[self.routes.get(site, self.default_manager)]

    @classmethod
    def load(cls, path: Path) -> AlertsConfig:
        if not path.is_file():
            raise FileNotFoundError(f"alerts config not found: {path}")
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
