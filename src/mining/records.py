"""Turn raw source rows into stored records or quarantine entries (pure functions)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from mining.normalise import clean_text, content_hash, detect_language
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


def parse_timestamp(value: Any, formats: list[str]) -> datetime | None:
    """A naive timestamp from a datetime or a string in one of `formats` or ISO 8601."""
    if isinstance(value, datetime):
        return _naive_utc(value)
    text = str(value).strip()
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return _naive_utc(parsed)


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


def map_row(row: RawRow, ctx: RecordContext) -> dict[str, Any] | Rejected:
    """The record for one raw row, or why it must be quarantined."""
    if row.error or row.data is None:
        return Rejected(row.error or "unparseable_row", row.detail or "row could not be read")
    m = ctx.mapping
    data = row.data
    try:
        raw_text = _field(data, m.text)
        raw_created = _field(data, m.created_at)
        site = _field(data, m.site, m.site_value)
        channel = _field(data, m.channel, m.channel_value)
        rating = _field(data, m.rating)
        customer_id = _field(data, m.customer_id)
        external_id = _field(data, m.external_id)
        status = _field(data, m.status)
        raw_resolved = _field(data, m.resolved_at)
        category = _field(data, m.category)
        raw_updated = _field(data, m.updated_at)
    except KeyError as missing:
        return Rejected("missing_column", f"row has no column {missing.args[0]!r}")

    text = clean_text(str(raw_text)) if raw_text is not None else ""
    if text and len(text) > ctx.max_text_chars:
        return Rejected("oversize_text", f"{len(text)} characters > {ctx.max_text_chars}")
    if not text and ctx.require_text:
        return Rejected("empty_text", "no text after cleaning")
    if raw_created is None:
        return Rejected("missing_date", f"column {m.created_at!r} is empty")
    created_at = parse_timestamp(raw_created, m.created_at_formats)
    if created_at is None:
        return Rejected("unparseable_date", f"cannot parse {str(raw_created)[:60]!r}")
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
    if rating is not None:
        try:
            rating = float(rating)
        except (TypeError, ValueError):
            return Rejected("bad_rating", f"rating {str(rating)[:30]!r} is not a number")

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
        "language": detect_language(text) if text else None,
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
    if row.data is not None:
        data = dict(row.data)
        if column is not None and column in data and not _blank(data[column]):
            data[column] = _customer(data[column], ctx)
        raw = json.dumps(data, ensure_ascii=False, default=str)
    else:
        raw = row.raw_text or ""
    regions = ctx.regions_for(None)
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
    items: dict[str, dict[str, Any]] = {}
    quarantined: dict[str, dict[str, Any]] = {}
    repeated = 0
    for row in rows:
        outcome = map_row(row, ctx)
        if isinstance(outcome, Rejected):
            entry = quarantine_entry(row, ctx, outcome)
            if entry["quarantine_id"] in quarantined:
                repeated += 1
            quarantined[entry["quarantine_id"]] = entry | {"run_id": run_id,
                                                           "quarantined_at": now}
        elif outcome["item_id"] in items:
            repeated += 1
            if _newer(outcome, items[outcome["item_id"]]):
                items[outcome["item_id"]] = outcome | {"run_id": run_id, "ingested_at": now}
        else:
            items[outcome["item_id"]] = outcome | {"run_id": run_id, "ingested_at": now}
    schema = FEEDBACK_SCHEMA if ctx.kind == "feedback" else COMPLAINT_SCHEMA
    return MappedBatch(
        pa.Table.from_pylist(list(items.values()), schema=schema),
        pa.Table.from_pylist(list(quarantined.values()), schema=QUARANTINE_SCHEMA),
        repeated,
    )
