"""Files dropped in a folder: CSV, JSONL (both optionally gzipped) and Parquet, each read once per
content fingerprint.

Faults never block (issue 14). A row that cannot be parsed becomes a RawRow with an `error`, and
reading goes on with the next row; a file that cannot be read, or breaks part way (a truncated
gzip, a corrupt Parquet page), yields the rows read before the break and one `unreadable_file`
row for the rest. Either way the file's fingerprint is committed, so the next run does not trip
on the same file again; a file is read again only when its content changes.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pyarrow.parquet as pq

from mining.settings import DEFAULT_BATCH_ROWS
from mining.sources.base import RawRow, SourceBatch, SourceState
from mining.sources.config import FolderSourceConfig

# Bytes that are not valid in the encoding, as decoded with surrogateescape.
_SURROGATES = re.compile("[\udc80-\udcff]")
# Byte-order marks declare the encoding and win over the configured one. UTF-32 first: its
# little-endian mark starts with UTF-16's.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _has_bad_bytes(value: str) -> bool:
    """True when decoding with surrogateescape met bytes that are not valid in the encoding."""
    return _SURROGATES.search(value) is not None


def _printable(value: str) -> str:
    """Raw text with undecodable bytes shown as \\xNN, so it can be stored and read."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def file_fingerprint(path: Path) -> str:
    """sha256 of the content; a file that cannot be opened is fingerprinted by size and mtime,
    so it is tried again once it changes (e.g. its permissions are fixed and it is rewritten)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        stat = path.stat()
        return f"unreadable:{stat.st_size}:{stat.st_mtime_ns}"
    return digest.hexdigest()


def _compressed(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def file_format(path: Path) -> str:
    """The format a file is read as: its suffix, under a `.gz` one if present (`a.csv.gz`)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def open_text(path: Path, encoding: str = "utf-8", newline: str | None = "") -> io.TextIOWrapper:
    """A text stream over the (decompressed) file in the encoding its BOM declares, else
    `encoding`; bytes the encoding cannot decode are kept as surrogates for the reader to flag."""
    # Closed by the caller, through the text stream that wraps it.
    binary: gzip.GzipFile | io.BufferedReader = (
        gzip.GzipFile(path, "rb") if _compressed(path) else open(path, "rb"))  # noqa: SIM115
    try:
        head = binary.peek(4)[:4]
    except Exception:
        binary.close()
        raise
    chosen = next((name for bom, name in _BOMS if head.startswith(bom)), encoding)
    return io.TextIOWrapper(binary, encoding=chosen, errors="surrogateescape", newline=newline)


class _PhysicalLines:
    """Lines of a text stream, numbered, with the lines of the current record kept so a record
    that went wrong can be given back and read again from its second line."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._replay: list[tuple[int, str]] = []
        self._read = 0
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> str:
        if self._replay:
            item = self._replay.pop()
        else:
            line = self._handle.readline()
            if not line:
                raise StopIteration
            self._read += 1
            item = (self._read, line)
        self.taken.append(item)
        return item[1]

    def start_record(self) -> None:
        self.taken = []

    def give_back(self, lines: list[tuple[int, str]]) -> None:
        self._replay.extend(reversed(lines))

    def next_number(self) -> int:
        return self._replay[-1][0] if self._replay else self._read + 1


def read_csv_rows(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> Iterator[RawRow]:
    """Rows of a CSV file, one RawRow per record.

    A record of the wrong width that spans several physical lines is an unbalanced quote: its
    first line is quarantined and reading resumes at the next line, so one stray quote costs one
    row, not the rest of the file. There is no field size limit here: an oversize field is
    quarantined by its row (`oversize_text`), and the rows after it are read.
    """
    csv.field_size_limit(sys.maxsize)
    location = str(path)
    with open_text(path, encoding) as handle:
        lines = _PhysicalLines(handle)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(location, 1, None, "unparseable_row", f"CSV header: {exc}")
            return
        if len(lines.taken) > 1:
            # A quote in the header that never closes swallows the file into the header.
            yield RawRow(location, 1, None, "unbalanced_quote",
                         f"the header runs over {len(lines.taken)} lines: a quote in it is "
                         "not closed, so no row of the file can be read",
                         _printable(lines.taken[0][1].rstrip("\r\n")))
            return
        width = len(header)
        named = [h for h in header if h.strip()]
        repeated = sorted({h for h in named if named.count(h) > 1})
        while True:
            lines.start_record()
            start = lines.next_number()
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                first = lines.taken[0] if lines.taken else (start, "")
                lines.give_back(lines.taken[1:])
                yield RawRow(location, first[0], None, "unparseable_row", f"CSV: {exc}",
                             _printable(first[1].rstrip("\r\n")))
                continue
            if not values:
                continue
            raw_text = delimiter.join(values)
            if len(values) != width and len(lines.taken) > 1:
                number, first_line = lines.taken[0]
                spanned = len(lines.taken)
                lines.give_back(lines.taken[1:])
                yield RawRow(location, number, None, "unbalanced_quote",
                             f"a quoted field opened here runs over {spanned} lines "
                             f"into a record of {len(values)} fields, not {width}; this line "
                             "is quarantined and reading resumes at the next one",
                             _printable(first_line.rstrip("\r\n")))
            elif _has_bad_bytes(raw_text):
                yield RawRow(location, start, None, "bad_encoding",
                             f"row is not valid {handle.encoding}", _printable(raw_text))
            elif len(values) != width:
                yield RawRow(location, start, None, "malformed_row",
                             f"expected {width} fields, found {len(values)}", raw_text)
            elif repeated:
                yield RawRow(location, start, None, "duplicate_column",
                             f"the header names {repeated} more than once, so the row's "
                             "values are ambiguous", raw_text)
            else:
                yield RawRow(location, start, dict(zip(header, values, strict=True)))


def read_jsonl_rows(path: Path, encoding: str = "utf-8") -> Iterator[RawRow]:
    location = str(path)
    with open_text(path, encoding, newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if _has_bad_bytes(line):
                yield RawRow(location, number, None, "bad_encoding",
                             f"line is not valid {handle.encoding}",
                             _printable(line.rstrip("\r\n")))
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RawRow(location, number, None, "unparseable_row", f"JSON: {exc.msg}",
                             line.rstrip("\r\n"))
                continue
            if not isinstance(value, dict):
                yield RawRow(location, number, None, "malformed_row",
                             "each line must hold a JSON object", line.rstrip("\r\n"))
                continue
            yield RawRow(location, number, value)


def read_parquet_rows(path: Path) -> Iterator[RawRow]:
    """Rows of a Parquet file; a file that breaks is handled by `read_file_rows`."""
    location = str(path)
    number = 0
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=10_000):
            for record in batch.to_pylist():
                number += 1
                yield RawRow(location, number, record)


def _format_rows(path: Path, delimiter: str, encoding: str) -> Iterator[RawRow]:
    kind = file_format(path)
    if kind == ".csv":
        return read_csv_rows(path, delimiter, encoding)
    if kind in (".jsonl", ".ndjson"):
        return read_jsonl_rows(path, encoding)
    if kind == ".parquet" and not _compressed(path):
        return read_parquet_rows(path)
    what = "gzipped Parquet (Parquet compresses inside the file)" if kind == ".parquet" else (
        f"file type {''.join(path.suffixes)!r}")
    return iter([RawRow(str(path), None, None, "unreadable_file", f"cannot read {what}")])


def read_file_rows(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> Iterator[RawRow]:
    """Every row of a file; when the file cannot be read, or breaks part way, the rows read so
    far and then one `unreadable_file` row saying where and why."""
    rows_before = 0
    try:
        for row in _format_rows(path, delimiter, encoding):
            rows_before += 1
            yield row
    except Exception as exc:  # noqa: BLE001 - any unreadable file is quarantined, not fatal
        where = f"after {rows_before} rows" if rows_before else "before any row"
        yield RawRow(str(path), None, None, "unreadable_file",
                     f"stopped {where}: {type(exc).__name__}: {exc}")


class FolderSource:
    """Reads every file whose content fingerprint is not yet recorded for this source."""

    def __init__(self, config: FolderSourceConfig, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
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
            try:
                fingerprint = file_fingerprint(path)
            except FileNotFoundError:  # gone since the listing: nothing to read
                continue
            if state.get(f"file:{path.name}") != fingerprint:
                pending.append((path, fingerprint))
        return pending

    def read(self, state: SourceState) -> Iterator[SourceBatch]:
        for path, fingerprint in self.pending_files(state):
            rows: list[RawRow] = []
            for row in read_file_rows(path, self.config.csv_delimiter, self.config.encoding):
                if len(rows) >= self.batch_rows:  # a full batch, and the file goes on
                    yield SourceBatch(rows)
                    rows = []
                rows.append(row)
            # The fingerprint is committed with the file's last batch: a file is done or redone.
            yield SourceBatch(rows, {f"file:{path.name}": fingerprint})
