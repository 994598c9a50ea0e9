"""A table or query in any database SQLAlchemy can reach, read past a watermark column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from mining.sources.base import RawRow, SourceBatch, SourceError, SourceState
from mining.sources.config import SqlSourceConfig

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _quoted(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain table or column name: {name!r}")
    return ".".join(f'"{part}"' for part in name.split("."))


def _plain(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else (
        value.isoformat() if isinstance(value, date) else value)


class SqlSource:
    """Reads rows whose watermark is at or after the stored one (inclusive; upserts dedupe)."""

    def __init__(self, config: SqlSourceConfig, engine: sa.Engine | None = None) -> None:
        self.config = config
        self.name = config.name
        self._engine = engine

    def statement(self) -> sa.TextClause:
        cfg = self.config
        if cfg.query:
            return sa.text(cfg.query)
        column = _quoted(cfg.watermark_column)
        assert cfg.table is not None
        return sa.text(
            f"SELECT * FROM {_quoted(cfg.table)} WHERE {column} >= :since ORDER BY {column}"
        )

    def read(self, state: SourceState) -> Iterator[SourceBatch]:
        cfg = self.config
        engine = self._engine or sa.create_engine(cfg.url)
        since = state.get("watermark") or cfg.initial_since
        newest: Any = None
        location = cfg.table or "query"
        ordinal = 0
        try:
            with engine.connect() as connection:
                result = connection.execution_options(yield_per=cfg.fetch_rows).execute(
                    self.statement(), {"since": since}
                )
                columns = list(result.keys())
                if cfg.watermark_column not in columns:
                    raise SourceError(
                        f"source {self.name!r}: result has no column {cfg.watermark_column!r}"
                    )
                for chunk in result.partitions():
                    rows = []
                    for values in chunk:
                        ordinal += 1
                        record = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
                        rows.append(RawRow(location, ordinal, record))
                        mark = record[cfg.watermark_column]
                        if mark is not None and (newest is None or mark > newest):
                            newest = mark
                    yield SourceBatch(rows)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"source {self.name!r}: {type(exc).__name__}: {exc}") from exc
        finally:
            if self._engine is None:
                engine.dispose()
        yield SourceBatch([], {"watermark": str(newest)} if newest is not None else {})
