"""Typed configuration. Read from `MINING_*` environment variables when `Settings()` is built."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Rows per ingest batch, one transaction each: fewer commits and longer overlaps of mapping with
# the store (docs/scaling.md); a batch never spans two files.
DEFAULT_BATCH_ROWS = 10_000

# Public, so pseudonyms made with it can be reversed by anyone who guesses an id: demo only.
DEMO_PSEUDONYM_KEY = "service-failure-radar-demo-key-not-secret"


def features_beside(db_path: Path, feature_cache_dir: Path | None) -> Path:
    return feature_cache_dir or db_path.parent / "features"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINING_", extra="ignore")

    db_path: Path = Field(Path("data/radar.duckdb"), description="The pipeline's working store.")
    read_copy_path: Path = Field(
        Path("data/radar_read.duckdb"),
        description="Copy published after each run for analysts to open read-only.",
    )
    sources_config: Path = Path("config/sources.yaml")
    taxonomy_path: Path = Path("config/taxonomy.yaml")
    corrections_path: Path = Field(
        Path("data/labels/corrections.csv"),
        description="Analysts' corrections (`mining label import`); versions in *_history.csv.",
    )
    analysis_config: Path = Field(
        Path("config/analysis.yaml"),
        description="Linking window, silent score, repurchase rates, SLA.",
    )
    alerts_config: Path = Field(
        Path("config/alerts.yaml"), description="Spike detector, channels, routes, escalation."
    )
    models_dir: Path = Path("models")
    model_path: Path | None = Field(None, description="A model dir; default: newest good one.")
    shared_data: Path = Path("../shared/data")
    cache_dir: Path = Path(".cache")
    feature_cache_dir: Path | None = Field(
        None,
        description="Pooled features of every classified text, per encoder digest; default: "
        "a `features` folder beside db_path (each store keeps its own).",
    )
    custom_heads_dir: Path = Field(
        Path("models/custom"),
        description="Heads of custom failure types, per encoder digest.",
    )
    classify_batch_size: int = Field(32, ge=1)
    classify_chunk_size: int = Field(512, ge=1, description="Items committed per transaction.")
    ingest_batch_rows: int = Field(DEFAULT_BATCH_ROWS, ge=1,
                                   description="Rows per ingest transaction (at most one file).")
    max_text_chars: int = Field(20_000, ge=1)
    torch_threads: int = Field(2, ge=1)
    classify_shard_size: int = Field(256, ge=1, description="Texts per classification task.")
    dask_address: str | None = Field(None, description="Dask scheduler, e.g. tcp://host:8786.")
    dask_workers: int | None = Field(None, ge=1, description="Start a local Dask cluster.")
    pseudonym_key: SecretStr = Field(
        SecretStr(DEMO_PSEUDONYM_KEY),
        description="HMAC-SHA256 key for customer ids (MINING_PSEUDONYM_KEY). The default is "
        "public, for the demo only. Keep the key: a new one gives every customer a new "
        "pseudonym, so old and new rows no longer link.",
    )

    @property
    def features_dir(self) -> Path:
        return features_beside(self.db_path, self.feature_cache_dir)
