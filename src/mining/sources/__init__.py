"""Connectors that read raw rows: a folder of files, an HTTP API, a SQL database."""

from __future__ import annotations

from mining.settings import DEFAULT_BATCH_ROWS
from mining.sources.base import RawRow, Source, SourceBatch, SourceError
from mining.sources.config import (
    FolderSourceConfig,
    HttpSourceConfig,
    SourceConfig,
    SourcesFile,
    SqlSourceConfig,
)
from mining.sources.folder import FolderSource
from mining.sources.http import HttpSource
from mining.sources.sql import SqlSource


def build_source(config: SourceConfig, batch_rows: int = DEFAULT_BATCH_ROWS) -> Source:
    """The real connector for a source config."""
    if isinstance(config, FolderSourceConfig):
        return FolderSource(config, batch_rows)
    if isinstance(config, HttpSourceConfig):
        return HttpSource(config)
    return SqlSource(config)


__all__ = [
    "FolderSource", "HttpSource", "RawRow", "Source", "SourceBatch", "SourceConfig",
    "SourceError", "SourcesFile", "SqlSource", "SqlSourceConfig", "build_source",
]
