"""A table or query in any database SQLAlchemy can reach, read past a watermark column."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from mining.sources.base import RawRow, SourceBatch, SourceError, SourceState
from mining.sources.config import SqlSourceConfig


def _table(name: str) -> sa.TableClause:
    """`table` or `schema.table`, quoted by the dialect when compiled: any name is a name
    (`crm-tickets`, `Tickets 2026`), never SQL."""
    schema, _, table = name.rpartition(".")
    return sa.table(table, schema=schema or None)


def _plain(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else (
        value.isoformat() if isinstance(value, date) else value)


class SqlSource:
    """Reads rows whose watermark is at or after the stored one (inclusive; upserts dedupe)."""

    def __init__(self, config: SqlSourceConfig, engine: sa.Engine | None = None) -> None:
        self.config = config
        self.name = config.name
        self._engine = engine

    def statement(self) -> sa.Executable:
        cfg = self.config
        if cfg.query:
            return sa.text(cfg.query)
        assert cfg.table is not None
        column: sa.ColumnClause[Any] = sa.column(cfg.watermark_column)
        return (sa.select(sa.text("*")).select_from(_table(cfg.table))
                .where(column >= sa.bindparam("since")).order_by(column))

    def read(self, state: SourceState) -> Iterator[SourceBatch]:
        cfg = self.config
        since = state.get("watermark") or cfg.initial_since
        newest: Any = None
        location = cfg.table or "query"
        ordinal = 0
        engine: sa.Engine | None = self._engine
        try:
            if engine is None:
                engine = sa.create_engine(cfg.url)
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
            message = " ".join(str(exc).split("\n(Background")[0].split())
            raise SourceError(f"source {self.name!r}: {type(exc).__name__}: {message}") from exc
        except ImportError as exc:  # the URL names a database whose driver is not installed
            raise SourceError(f"source {self.name!r}: no driver for {cfg.url.split(':')[0]}: "
                              f"{exc}") from exc
        finally:
            if self._engine is None and engine is not None:
                engine.dispose()
        yield SourceBatch([], {"watermark": str(newest)} if newest is not None else {})
