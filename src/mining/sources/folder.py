"""Files dropped in a folder: CSV, JSONL and Parquet, each read once per content fingerprint."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from mining.sources.base import RawRow, SourceBatch, SourceState
from mining.sources.config import FolderSourceConfig

_SURROGATES = range(0xDC80, 0xDD00)


def _has_bad_bytes(value: str) -> bool:
    """True when decoding with surrogateescape met bytes that are not UTF-8."""
    return any(ord(ch) in _SURROGATES for ch in value)


def _printable(value: str) -> str:
    """Raw text with undecodable bytes shown as \\xNN, so it can be stored and read."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_csv_rows(path: Path, delimiter: str = ",") -> Iterator[RawRow]:
    text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    location = str(path)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield RawRow(location, 1, None, "unparseable_row", f"CSV header: {exc}")
        return
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(location, start, None, "unparseable_row", f"CSV: {exc}")
            return
        if not values:
            continue
        raw_text = delimiter.join(values)
        if _has_bad_bytes(raw_text):
            yield RawRow(location, start, None, "bad_encoding", "row is not valid UTF-8",
                         _printable(raw_text))
        elif len(values) != width:
            yield RawRow(location, start, None, "malformed_row",
                         f"expected {width} fields, found {len(values)}", raw_text)
        else:
            yield RawRow(location, start, dict(zip(header, values, strict=True)))


def read_jsonl_rows(path: Path) -> Iterator[RawRow]:
    location = str(path)
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            line = raw_line.decode("utf-8-sig" if number == 1 else "utf-8", "surrogateescape")
            if not line.strip():
                continue
            if _has_bad_bytes(line):
                yield RawRow(location, number, None, "bad_encoding", "line is not valid UTF-8",
                             _printable(line.rstrip("\n")))
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RawRow(location, number, None, "unparseable_row", f"JSON: {exc.msg}",
                             line.rstrip("\n"))
                continue
            if not isinstance(value, dict):
                yield RawRow(location, number, None, "malformed_row",
                             "each line must hold a JSON object", line.rstrip("\n"))
                continue
            yield RawRow(location, number, value)


def read_parquet_rows(path: Path) -> Iterator[RawRow]:
    location = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is quarantined, not fatal
        yield RawRow(location, None, None, "unreadable_file", f"Parquet: {exc}")
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        for record in batch.to_pylist():
            number += 1
            yield RawRow(location, number, record)


def read_file_rows(path: Path, delimiter: str = ",") -> Iterator[RawRow]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv_rows(path, delimiter)
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl_rows(path)
    if suffix == ".parquet":
        return read_parquet_rows(path)
    return iter([RawRow(str(path), None, None, "unreadable_file", f"unknown file type {suffix!r}")])


class FolderSource:
    """Reads every file whose content fingerprint is not yet recorded for this source."""

    def __init__(self, config: FolderSourceConfig, batch_rows: int = 5000) -> None:
        self.config = config
        self.name = config.name
        self.batch_rows = batch_rows

    def pending_files(self, state: SourceState) -> list[tuple[Path, str]]:
        root = self.config.path
        if not root.is_dir():
            raise FileNotFoundError(f"source {self.name!r}: folder not found: {root}")
        files = sorted({p for pattern in self.config.patterns for p in root.glob(pattern)
                        if p.is_file()})
        pending = []
        for path in files:
            fingerprint = file_fingerprint(path)
            if state.get(f"file:{path.name}") != fingerprint:
                pending.append((path, fingerprint))
        return pending

    def read(self, state: SourceState) -> Iterator[SourceBatch]:
        for path, fingerprint in self.pending_files(state):
            rows: list[RawRow] = []
            for row in read_file_rows(path, self.config.csv_delimiter):
                rows.append(row)
                if len(rows) >= self.batch_rows:
                    yield SourceBatch(rows)
                    rows = []
            # The fingerprint is committed with the file's last batch: a file is done or redone.
            yield SourceBatch(rows, {f"file:{path.name}": fingerprint})
