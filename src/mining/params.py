"""Typed parameters of the pipeline flows (validated by Prefect and the CLI)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mining.settings import DEFAULT_BATCH_ROWS, Settings, features_beside


class RunParameters(BaseModel):
    """Where the pipeline reads and writes. Defaults come from `Settings` (MINING_* env)."""

    model_config = ConfigDict(extra="forbid")

    db_path: Path
    read_copy_path: Path
    sources_config: Path
    taxonomy_path: Path
    analysis_config: Path = Path("config/analysis.yaml")
    alerts_config: Path = Path("config/alerts.yaml")
    models_dir: Path
    model_path: Path | None = None
    feature_cache_dir: Path | None = None  # default: beside db_path
    custom_heads_dir: Path = Path("models/custom")
    classify_batch_size: int = 32
    classify_chunk_size: int = 512
    ingest_batch_rows: int = DEFAULT_BATCH_ROWS
    max_text_chars: int = 20_000
    torch_threads: int = 2
    classify_shard_size: int = 256
    dask_address: str | None = None
    dask_workers: int | None = None

    @property
    def features_dir(self) -> Path:
        return features_beside(self.db_path, self.feature_cache_dir)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: object) -> RunParameters:
        s = settings or Settings()
        values = {name: getattr(s, name) for name in cls.model_fields if hasattr(s, name)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
