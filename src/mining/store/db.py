"""The one module that executes SQL against the DuckDB store.

Writes go through Arrow tables in short transactions; values are always bound, never formatted.
Analysts read a copy published after each run, because DuckDB lets only one process hold a
database file open for writing and then refuses every other opener, read-only ones included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from glob import escape as glob_escape
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def utcnow() -> datetime:
    """Naive UTC timestamp, the form every TIMESTAMP column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def _sql_resource(folder: str, name: str) -> str:
    return resources.files("mining.store").joinpath(folder, name).read_text(encoding="utf-8")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every numbered migration, in order."""
    found = []
    for entry in resources.files("mining.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers: {versions}")
    return found


def named_query(name: str) -> str:
    """The SQL text of `queries/<name>.sql`."""
    return _sql_resource("queries", f"{name}.sql")


# The stored columns each updatable field stands for; the first one is compared ("text" by its
# content hash, so a rerun that only respaces a text changes nothing).
_FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "text": ("content_hash", "text", "language"),
    "rating": ("rating",),
    "status": ("status",),
    "resolved_at": ("resolved_at",),
    "category": ("category",),
}
# Per item table: the table of its replaced versions and the versioned columns they keep. The
# current version is the item row itself; the view `<table>_history` shows every version.
_HISTORY: dict[str, tuple[str, tuple[str, ...]]] = {
    "feedback": ("feedback_replaced_versions", ("rating", "content_hash", "language", "text")),
    "complaints": ("complaints_replaced_versions", ("status", "resolved_at", "category",
                                                    "content_hash", "language", "text")),
}


def quote_identifier(name: str) -> str:
    """Any name as a DuckDB identifier: a database file `radar-prod.duckdb` or `2026.duckdb`
    is attached as `radar-prod` or `2026`, and file names are free (issue 14)."""
    return '"' + name.replace('"', '""') + '"'


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


class Store:
    """A read-write connection to the pipeline's DuckDB file, migrated on open."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None) -> None:
        self.con = con
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, migrate: bool = True) -> Store:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(duckdb.connect(str(path)), path)
        if migrate:
            store.apply_migrations()
        return store

    @classmethod
    def in_memory(cls) -> Store:
        store = cls(duckdb.connect(":memory:"), None)
        store.apply_migrations()
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------
    def apply_migrations(self, up_to: int | None = None) -> list[int]:
        """Apply the migrations not yet recorded in schema_version; each in its own transaction.

        `up_to` stops after that version (to build a store as an older release left it).
        """
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        done = {row[0] for row in self.con.execute("SELECT version FROM schema_version").fetchall()}
        applied = []
        for version, name, sql in migrations():
            if version in done or (up_to is not None and version > up_to):
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)", [version, name, utcnow()]
                )
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        rows = self.con.execute("SELECT max(version) FROM schema_version").fetchall()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    # -- primitives ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params or [])

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self.con.sql(sql, params=list(params or [])).to_arrow_table()

    def query(self, name: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run the named query file `queries/<name>.sql` and return its rows as Arrow."""
        return self.fetch_arrow(named_query(name), params)

    def fetch_rows(self, name: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run the named statement (a query, or DML with RETURNING) and return all its rows."""
        return self.con.execute(named_query(name), list(params or [])).fetchall()

    def run_script(self, name: str, params: Sequence[Any] | None = None) -> None:
        """Run a named multi-statement query file (no result)."""
        self.con.execute(named_query(name), params or [])

    def insert_arrow(self, table: str, rows: pa.Table, *, on_conflict: str = "nothing") -> int:
        """Bulk-insert Arrow rows by column name; returns how many rows were new."""
        if rows.num_rows == 0:
            return 0
        if on_conflict not in ("nothing", "replace"):
            raise ValueError(f"on_conflict must be 'nothing' or 'replace', not {on_conflict!r}")
        verb = "INSERT OR REPLACE" if on_conflict == "replace" else "INSERT"
        tail = " ON CONFLICT DO NOTHING" if on_conflict == "nothing" else ""
        self.con.register("_incoming", rows)
        try:
            result = self.con.execute(
                f"{verb} INTO {_check_identifier(table)} BY NAME SELECT * FROM _incoming{tail}"
            ).fetchall()
        finally:
            self.con.unregister("_incoming")
        return int(result[0][0]) if result else 0

    def upsert_items(self, table: str, rows: pa.Table, fields: Sequence[str]) -> tuple[int, int]:
        """Store new items and apply newer versions of stored ones; returns (added, updated).

        Call inside a transaction, with item ids unique in `rows`. A stored item changes only
        when one of `fields` differs, and only when the incoming row is not older by
        `source_updated_at` (when both rows have one). Then those fields, location, line and
        source_updated_at are replaced, `version` goes up and `changed_at` is set; every other
        column keeps its first value. The version it replaced goes to
        `<table>_replaced_versions`; the view `<table>_history` shows every version, the
        current one from the item row, so a new item is written once. An identical row
        changes nothing.
        """
        if table not in _HISTORY:
            raise ValueError(f"not an item table: {table!r}")
        versioned = _HISTORY[table][1]
        unknown = [f for f in fields if f not in _FIELD_COLUMNS
                   or not set(_FIELD_COLUMNS[f]) <= set(versioned)]
        if unknown:
            raise ValueError(f"{table} has no updatable fields {unknown}")
        if rows.num_rows == 0:
            return 0, 0
        self.con.register("_incoming", rows)
        try:
            updated = self._apply_updates(table, list(dict.fromkeys(fields)))
            result = self.con.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM _incoming ON CONFLICT DO NOTHING"
            ).fetchall()
            added = int(result[0][0]) if result else 0
        finally:
            self._cleanup(lambda: self.con.unregister("_incoming"))
        return added, updated

    @staticmethod
    def _cleanup(step: Callable[[], object]) -> None:
        """Tidy up after a statement; in an aborted transaction that fails, and the caller's
        error (and its rollback) is what matters."""
        with suppress(duckdb.TransactionException):
            step()

    def _apply_updates(self, table: str, fields: list[str]) -> int:
        """The update half of `upsert_items` (identifiers come from the checked constants)."""
        if not fields:
            return 0
        replaced = _HISTORY[table][0]
        differs = {f: f"i.{_FIELD_COLUMNS[f][0]} IS DISTINCT FROM t.{_FIELD_COLUMNS[f][0]}"
                   for f in fields}
        flags = ", ".join(f"{cond} AS _changed_{f}" for f, cond in differs.items())
        changed_list = ("list_filter([" + ", ".join(
            f"CASE WHEN {cond} THEN '{f}' END" for f, cond in differs.items())
            + "], lambda x: x IS NOT NULL)")
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _changed AS "
            f"SELECT i.*, {flags}, {changed_list} AS changed_fields "
            f"FROM _incoming i JOIN {table} t USING (item_id) "
            f"WHERE ({' OR '.join(differs.values())}) "
            f"AND (i.source_updated_at IS NULL OR t.source_updated_at IS NULL "
            f"OR i.source_updated_at > t.source_updated_at)"
        )
        try:
            rows = self.con.execute("SELECT count(*) FROM _changed").fetchall()
            updated = int(rows[0][0]) if rows else 0
            if not updated:
                return 0
            # Only the fields that differ take the new value (a new rating leaves a respaced
            # text as stored); where the row came from and its version time always do.
            assignments = [f"{c} = CASE WHEN c._changed_{f} THEN c.{c} ELSE {table}.{c} END"
                           for f in fields for c in _FIELD_COLUMNS[f]]
            assignments += ["location = c.location", "line = c.line",
                            f"source_updated_at = coalesce(c.source_updated_at, "
                            f"{table}.source_updated_at)",
                            "changed_fields = c.changed_fields", "changed_run_id = c.run_id"]
            # The current version as the `<table>_history` view shows it, closed now.
            self.con.execute(
                f"INSERT INTO {replaced} BY NAME "
                f"SELECT h.* REPLACE (c.ingested_at AS valid_to) FROM {table}_history h "
                f"JOIN _changed c USING (item_id) WHERE h.valid_to IS NULL"
            )
            self.con.execute(
                f"UPDATE {table} SET {', '.join(assignments)}, version = {table}.version + 1, "
                f"changed_at = c.ingested_at FROM _changed c WHERE {table}.item_id = c.item_id"
            )
            return updated
        finally:
            self._cleanup(lambda: self.con.execute("DROP TABLE IF EXISTS _changed"))

    def replace_rows(self, table: str, rows: pa.Table) -> int:
        """Swap a derived table's contents for `rows` (call inside a transaction)."""
        self.con.execute(f"DELETE FROM {_check_identifier(table)}")
        return self.insert_arrow(table, rows)

    def count(self, table: str) -> int:
        rows = self.con.execute(f"SELECT count(*) FROM {_check_identifier(table)}").fetchall()
        return int(rows[0][0]) if rows else 0

    # -- source state -------------------------------------------------------------------
    def source_state(self, source: str) -> dict[str, str | None]:
        rows = self.con.execute(
            "SELECT key, value FROM source_state WHERE source = ?", [source]
        ).fetchall()
        return {key: value for key, value in rows}

    def set_source_state(self, source: str, values: dict[str, str | None], run_id: str) -> None:
        if not values:
            return
        now = utcnow()
        table = pa.table(
            {
                "source": [source] * len(values),
                "key": list(values),
                "value": list(values.values()),
                "run_id": [run_id] * len(values),
                "updated_at": [now] * len(values),
            }
        )
        self.insert_arrow("source_state", table, on_conflict="replace")

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, run_id: str, model_version: str | None) -> None:
        self.con.execute(
            "INSERT INTO runs (run_id, started_at, status, model_version) VALUES (?, ?, ?, ?)",
            [run_id, utcnow(), "running", model_version],
        )

    def abandon_stale_runs(self) -> int:
        """Mark runs left 'running' by a killed process; call only when no run is active."""
        row = self.con.execute(
            "UPDATE runs SET status = 'abandoned' WHERE status = 'running'"
        ).fetchall()
        return int(row[0][0]) if row else 0

    def finish_run(self, run_id: str, status: str, counts: dict[str, int], stage_seconds: str,
                   model_version: str | None = None, error: str | None = None) -> None:
        allowed = {"rows_read", "feedback_added", "complaints_added", "feedback_updated",
                   "complaints_updated", "quarantined", "classified", "predictions_reused",
                   "duplicates", "alerts_new", "alerts_sent", "alert_deliveries_pending"}
        unknown = set(counts) - allowed
        if unknown:
            raise ValueError(f"unknown run counters: {sorted(unknown)}")
        values = [counts.get(name, 0) for name in sorted(allowed)]
        assignments = ", ".join(f"{name} = ?" for name in sorted(allowed))
        self.con.execute(
            f"UPDATE runs SET {assignments}, status = ?, finished_at = ?, stage_seconds = ?, "
            "model_version = coalesce(?, model_version), error = ? WHERE run_id = ?",
            [*values, status, utcnow(), stage_seconds, model_version, error, run_id],
        )

    # -- publishing ---------------------------------------------------------------------
    def publish_read_copy(self, target: Path) -> Path:
        """Write a consistent copy for analysts and swap it in atomically.

        Readers holding the old copy keep reading it; new readers get the new one.
        Call under the run lock: copies left by a publisher that was killed are removed here.
        """
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{glob_escape(target.name)}.*.partial"):
            stale.unlink(missing_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        self.con.execute("CHECKPOINT")
        rows = self.con.execute("SELECT current_database()").fetchall()
        source = str(rows[0][0]) if rows else "memory"
        alias = "radar_read_copy" if source != "radar_read_copy" else "radar_read_copy_2"
        self.con.execute(f"ATTACH ? AS {alias}", [str(partial)])
        try:
            self.con.execute(f"COPY FROM DATABASE {quote_identifier(source)} TO {alias}")
        finally:
            self.con.execute(f"DETACH {alias}")
        os.replace(partial, target)
        return target


def open_read_only(path: Path | str) -> duckdb.DuckDBPyConnection:
    """An analyst's connection: read-only, to the published copy."""
    return duckdb.connect(str(path), read_only=True)


def run_report(read_copy: Path | str, run_id: str, top_n: int = 3
               ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Quarantine reasons of a run and the top negative failure types per site."""
    con = open_read_only(read_copy)
    try:
        reasons = con.execute(named_query("run_summary_quarantine"), [run_id]).fetchall()
        top = con.execute(named_query("top_failure_types_by_site"), [top_n]).fetchall()
    finally:
        con.close()
    return reasons, top


_PLACEHOLDER = re.compile(r"\$(\d+)")


def read_named_queries(path: Path | str, names: Sequence[str],
                       params: Sequence[Any]) -> dict[str, pd.DataFrame]:
    """Run named queries read-only against a published copy; each gets the first $n params."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no database at {path}: run `mining run` first")
    con = open_read_only(path)
    try:
        frames = {}
        for name in names:
            sql = named_query(name)
            used = max((int(n) for n in _PLACEHOLDER.findall(sql)), default=0)
            frames[name] = con.execute(sql, list(params[:used])).df()
        return frames
    finally:
        con.close()
