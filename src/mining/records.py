"""Turn raw source rows into stored records or quarantine entries (pure functions)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from mining.normalise import (
    clean_text,
    content_hash,
    detect_language,
    detect_languages,
    prefetch_language_model,
)
from mining.redact import pseudonymise, redact
from mining.sources.base import RawRow
from mining.sources.config import ColumnMapping, ItemKind

FEEDBACK_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("source", pa.string()), ("external_id", pa.string()),
    ("content_hash", pa.string()), ("created_at", pa.timestamp("us")), ("site", pa.string()),
    ("channel", pa.string()), ("rating", pa.float64()), ("customer_id", pa.string()),
    ("language", pa.string()), ("text", pa.string()), ("location", pa.string()),
    ("line", pa.int64()), ("run_id", pa.string()), ("ingested_at", pa.timestamp("us")),
    ("source_updated_at", pa.timestamp("us")),
])
COMPLAINT_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("source", pa.string()), ("external_id", pa.string()),
    ("content_hash", pa.string()), ("created_at", pa.timestamp("us")), ("site", pa.string()),
    ("channel", pa.string()), ("customer_id", pa.string()), ("status", pa.string()),
    ("resolved_at", pa.timestamp("us")), ("category", pa.string()), ("language", pa.string()),
    ("text", pa.string()), ("location", pa.string()), ("line", pa.int64()),
    ("run_id", pa.string()), ("ingested_at", pa.timestamp("us")),
    ("source_updated_at", pa.timestamp("us")),
])
QUARANTINE_SCHEMA = pa.schema([
    ("quarantine_id", pa.string()), ("source", pa.string()), ("item_kind", pa.string()),
    ("location", pa.string()), ("line", pa.int64()), ("reason", pa.string()),
    ("detail", pa.string()), ("raw", pa.string()), ("run_id", pa.string()),
    ("quarantined_at", pa.timestamp("us")),
])


# Where a row's values stop being plausible (issue 14). A created_at more than a day after the
# run is a clock or time-zone fault (a day covers every UTC offset), one at or before the Unix
# epoch is a placeholder (0, 1900-01-01, 0001-01-01): both are quarantined, never stored.
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST_CREATED_AT = datetime(1970, 1, 1)
# Mapped fields other than the text (site, ids, status...) longer than this are a fault.
MAX_FIELD_CHARS = 1_000
# Quarantine keeps at most this much of each raw value, so a 10 MB field stores 10 KB.
QUARANTINE_VALUE_CHARS = 10_000


@dataclass(frozen=True)
class Rejected:
    reason: str
    detail: str


@dataclass(frozen=True)
class RecordContext:
    """What mapping a row needs besides the row itself.

    `pseudonym_key` is the HMAC key for customer ids (setting `pseudonym_key`), passed in so that
    this module never reads the environment. `phone_regions` (the source's) and
    `site_phone_regions` add phone regions to redaction's defaults.
    """

    source: str
    kind: ItemKind
    mapping: ColumnMapping
    require_text: bool
    known_sites: frozenset[str] | None
    max_text_chars: int
    pseudonym_key: str
    phone_regions: tuple[str, ...] = ()
    site_phone_regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def regions_for(self, site: str | None) -> tuple[str, ...]:
        """Phone regions for a row of `site`; every configured one when the site is unknown."""
        if site is None:
            extra = tuple(r for regions in self.site_phone_regions.values() for r in regions)
        else:
            extra = self.site_phone_regions.get(site, ())
        return tuple(dict.fromkeys(extra + self.phone_regions))


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _field(row: dict[str, Any], column: str | None, constant: str | None = None) -> Any:
    if column is None:
        return constant
    if column not in row:
        raise KeyError(column)
    value = row[column]
    return None if _blank(value) else value


# Formats that read the fields of ISO 8601 in its order: where every configured format is one,
# a string `datetime.fromisoformat` (C, 30x faster than strptime) reads means the same instant
# under any of them, so it is tried first.
_ISO_ORDER_FORMATS = frozenset({"%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
                                "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"})


def parse_timestamp(value: Any, formats: list[str]) -> datetime | None:
    """A naive timestamp from a datetime or a string in one of `formats` or ISO 8601."""
    try:
        if isinstance(value, datetime):
            return _naive_utc(value)
        text = str(value).strip()
        if all(fmt in _ISO_ORDER_FORMATS for fmt in formats):
            with suppress(ValueError):
                return _naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        for fmt in formats:
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
        return _naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 in UTC
        return None


def _naive_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


# How created_at enters a key; migration 006 builds the same string with DuckDB's strftime.
ITEM_KEY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def make_item_id(source: str, kind: str, external_id: str | None, text_hash: str | None, *,
                 site: str | None = None, created_at: datetime | None = None) -> str:
    """Stable key: the source's own id when it has one, else source, site, created_at and hash.

    Never the text alone: the same words at two sites or on two days are two records (issue 14).
    Migration 006 computes the same key in SQL (`sha256`, `chr(31)`, `strftime`): keep them equal.
    """
    if external_id:
        key = f"id:{external_id}"
    else:
        if site is None or created_at is None:
            raise ValueError("a record without an external id needs its site and created_at")
        key = f"row:{site}\x1f{created_at.strftime(ITEM_KEY_TIME_FORMAT)}\x1f{text_hash or ''}"
    return hashlib.sha256(f"{source}\x1f{kind}\x1f{key}".encode()).hexdigest()[:32]


def _rating(value: Any) -> float | Rejected | None:
    """A finite number, None when blank, else why not. NaN and infinity are faults, not
    missing values: a NaN float cell as well as the text "NaN" is quarantined (issue 14)."""
    if isinstance(value, float) and not math.isfinite(value):
        return Rejected("bad_rating", f"rating {value!r} is not a finite number")
    if _blank(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return Rejected("bad_rating", f"rating {str(value)[:30]!r} is not a number")
    if not math.isfinite(number):
        return Rejected("bad_rating", f"rating {str(value)[:30]!r} is not a finite number")
    return number


def _oversize_field(data: dict[str, Any], m: ColumnMapping) -> Rejected | None:
    for name in (m.created_at, m.site, m.channel, m.rating, m.customer_id, m.external_id,
                 m.status, m.resolved_at, m.category, m.updated_at):
        value = data.get(name) if name is not None else None
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            return Rejected("oversize_field",
                            f"column {name!r} holds {len(value)} characters > {MAX_FIELD_CHARS}")
    return None


def _date_fault(column: str, value: datetime, now: datetime | None) -> Rejected | None:
    if value <= EARLIEST_CREATED_AT:
        return Rejected("implausible_date", f"{column} {value:%Y-%m-%d %H:%M:%S} is not after "
                        f"{EARLIEST_CREATED_AT:%Y-%m-%d}: a placeholder, not a date")
    if now is not None and value > now + FUTURE_TOLERANCE:
        return Rejected("future_date", f"{column} {value:%Y-%m-%d %H:%M:%S} is more than "
                        f"{FUTURE_TOLERANCE.days} day after the run ({now:%Y-%m-%d %H:%M})")
    return None


def map_row(row: RawRow, ctx: RecordContext,
            now: datetime | None = None) -> dict[str, Any] | Rejected:
    """The record for one raw row, or why it must be quarantined.

    `now` (naive UTC, the run's clock) enables the future-date check; without it only dates at
    or before 1970-01-01 are refused.
    """
    outcome = _map_without_language(row, ctx, now)
    if not isinstance(outcome, Rejected) and outcome["text"] is not None:
        outcome["language"] = detect_language(outcome["text"])
    return outcome


def _map_without_language(row: RawRow, ctx: RecordContext,
                          now: datetime | None) -> dict[str, Any] | Rejected:
    """`map_row` but for the language, which `map_batch` detects for all its texts at once."""
    if row.error or row.data is None:
        return Rejected(row.error or "unparseable_row", row.detail or "row could not be read")
    m = ctx.mapping
    data = row.data
    try:
        raw_text = _field(data, m.text)
        raw_created = _field(data, m.created_at)
        site = _field(data, m.site, m.site_value)
        channel = _field(data, m.channel, m.channel_value)
        rating = data[m.rating] if m.rating is not None else None
        customer_id = _field(data, m.customer_id)
        external_id = _field(data, m.external_id)
        status = _field(data, m.status)
        raw_resolved = _field(data, m.resolved_at)
        category = _field(data, m.category)
        raw_updated = _field(data, m.updated_at)
    except KeyError as missing:
        return Rejected("missing_column", f"row has no column {missing.args[0]!r}")
    oversize = _oversize_field(data, m)
    if oversize is not None:
        return oversize

    text = clean_text(str(raw_text)) if raw_text is not None else ""
    if text and len(text) > ctx.max_text_chars:
        return Rejected("oversize_text", f"{len(text)} characters > {ctx.max_text_chars}")
    # feedback.text is NOT NULL: feedback needs a text whatever the source says.
    if not text and (ctx.require_text or ctx.kind == "feedback"):
        return Rejected("empty_text", "no text after cleaning")
    if raw_created is None:
        return Rejected("missing_date", f"column {m.created_at!r} is empty")
    created_at = parse_timestamp(raw_created, m.created_at_formats)
    if created_at is None:
        return Rejected("unparseable_date", f"cannot parse {str(raw_created)[:60]!r}")
    date_fault = _date_fault("created_at", created_at, now)
    if date_fault is not None:
        return date_fault
    resolved_at = None
    if raw_resolved is not None:
        resolved_at = parse_timestamp(raw_resolved, m.created_at_formats)
        if resolved_at is None:
            return Rejected("unparseable_date", f"cannot parse {str(raw_resolved)[:60]!r}")
    updated_at = None
    if raw_updated is not None:
        updated_at = parse_timestamp(raw_updated, m.created_at_formats)
        if updated_at is None:
            return Rejected("unparseable_date", f"cannot parse {str(raw_updated)[:60]!r}")
    if site is None:
        return Rejected("missing_site", "no site")
    site = str(site).strip()
    if ctx.known_sites is not None and site not in ctx.known_sites:
        return Rejected("unknown_site", f"site {site!r} is not in the configured sites")
    rating = _rating(rating)
    if isinstance(rating, Rejected):
        return rating

    text = redact(text, ctx.regions_for(site)) if text else ""
    text_hash = content_hash(text) if text else None
    ext = str(external_id).strip() if external_id is not None else None
    record: dict[str, Any] = {
        "item_id": make_item_id(ctx.source, ctx.kind, ext, text_hash, site=site,
                                created_at=created_at),
        "source": ctx.source,
        "external_id": ext,
        "content_hash": text_hash,
        "created_at": created_at,
        "site": site,
        "channel": str(channel) if channel is not None else None,
        "customer_id": _customer(customer_id, ctx),
        "language": None,
        "text": text or None,
        "location": row.location,
        "line": row.line,
        "source_updated_at": updated_at,
    }
    if ctx.kind == "feedback":
        record["rating"] = rating
    else:
        record.update(status=str(status) if status is not None else None,
                      resolved_at=resolved_at,
                      category=str(category) if category is not None else None)
    return record


def _customer(value: Any, ctx: RecordContext) -> str | None:
    """The customer id as stored: a keyed pseudonym, so equal ids still link (issue 14)."""
    if value is None or not str(value).strip():
        return None
    return pseudonymise(str(value), ctx.pseudonym_key)


def quarantine_entry(row: RawRow, ctx: RecordContext, rejected: Rejected) -> dict[str, Any]:
    """The quarantine row; its raw text is cleaned and redacted like a stored text."""
    column = ctx.mapping.customer_id
    regions = ctx.regions_for(None)
    if row.data is not None:
        data = {k: _shortened(v, regions) for k, v in row.data.items()}
        if column is not None and column in data and not _blank(data[column]):
            data[column] = _customer(row.data[column], ctx)
        raw = json.dumps(data, ensure_ascii=False, default=str)
    else:
        raw = _shortened(row.raw_text or "", regions)
    raw = redact(raw, regions, clean=True)
    key = f"{ctx.source}\x1f{row.location}\x1f{row.line}\x1f{rejected.reason}\x1f{raw}"
    return {
        "quarantine_id": hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32],
        "source": ctx.source,
        "item_kind": ctx.kind,
        "location": row.location,
        "line": row.line,
        "reason": rejected.reason,
        "detail": redact(rejected.detail, regions),
        "raw": raw,
    }


def _shortened(value: Any, regions: tuple[str, ...]) -> Any:
    """A raw value cut to QUARANTINE_VALUE_CHARS. It is redacted with a margin before the cut,
    so no PII that straddles the cut survives in part."""
    if not isinstance(value, str) or len(value) <= QUARANTINE_VALUE_CHARS:
        return value
    head = redact(value[:QUARANTINE_VALUE_CHARS + 1_000], regions, clean=True)
    return f"{head[:QUARANTINE_VALUE_CHARS]}... [{len(value)} characters, cut]"


@dataclass
class MappedBatch:
    items: pa.Table
    quarantine: pa.Table
    repeated_in_batch: int


def _newer(candidate: dict[str, Any], kept: dict[str, Any]) -> bool:
    """Within a batch the row read later is the newer version, unless its version time is older."""
    new, old = candidate["source_updated_at"], kept["source_updated_at"]
    return new is None or old is None or new >= old


def map_batch(rows: list[RawRow], ctx: RecordContext, run_id: str, now: datetime) -> MappedBatch:
    """Map a batch; an item id seen twice in the batch is kept once (its newest version) and
    the repeat is counted in `repeated_in_batch`."""
    if rows:
        prefetch_language_model()
    items: dict[str, dict[str, Any]] = {}
    quarantined: dict[str, dict[str, Any]] = {}
    repeated = 0
    for row in rows:
        outcome = _map_without_language(row, ctx, now)
        if isinstance(outcome, Rejected):
            entry = quarantine_entry(row, ctx, outcome)
            if entry["quarantine_id"] in quarantined:
                repeated += 1
            entry["run_id"], entry["quarantined_at"] = run_id, now
            quarantined[entry["quarantine_id"]] = entry
            continue
        outcome["run_id"], outcome["ingested_at"] = run_id, now
        kept = items.get(outcome["item_id"])
        if kept is not None:
            repeated += 1
            if not _newer(outcome, kept):
                continue
        items[outcome["item_id"]] = outcome
    with_text = [record for record in items.values() if record["text"] is not None]
    for record, language in zip(with_text, detect_languages([r["text"] for r in with_text]),
                                strict=True):
        record["language"] = language
    schema = FEEDBACK_SCHEMA if ctx.kind == "feedback" else COMPLAINT_SCHEMA
    return MappedBatch(
        pa.Table.from_pylist(list(items.values()), schema=schema),
        pa.Table.from_pylist(list(quarantined.values()), schema=QUARANTINE_SCHEMA),
        repeated,
    )
