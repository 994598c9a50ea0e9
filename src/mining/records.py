"""Turn raw source rows into stored records or quarantine entries (pure functions)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from mining.normalise import clean_text, content_hash, detect_language
from mining.redact import redact
from mining.sources.base import RawRow
from mining.sources.config import ColumnMapping, ItemKind

FEEDBACK_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("source", pa.string()), ("external_id", pa.string()),
    ("content_hash", pa.string()), ("created_at", pa.timestamp("us")), ("site", pa.string()),
    ("channel", pa.string()), ("rating", pa.float64()), ("customer_id", pa.string()),
    ("language", pa.string()), ("text", pa.string()), ("location", pa.string()),
    ("line", pa.int64()), ("run_id", pa.string()), ("ingested_at", pa.timestamp("us")),
])
COMPLAINT_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("source", pa.string()), ("external_id", pa.string()),
    ("content_hash", pa.string()), ("created_at", pa.timestamp("us")), ("site", pa.string()),
    ("channel", pa.string()), ("customer_id", pa.string()), ("status", pa.string()),
    ("resolved_at", pa.timestamp("us")), ("category", pa.string()), ("language", pa.string()),
    ("text", pa.string()), ("location", pa.string()), ("line", pa.int64()),
    ("run_id", pa.string()), ("ingested_at", pa.timestamp("us")),
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
    """What mapping a row needs besides the row itself."""

    source: str
    kind: ItemKind
    mapping: ColumnMapping
    require_text: bool
    known_sites: frozenset[str] | None
    max_text_chars: int


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


def make_item_id(source: str, kind: str, external_id: str | None, text_hash: str | None) -> str:
    """Stable key: the source's own id when it has one, else the content hash."""
    key = f"id:{external_id}" if external_id else f"hash:{text_hash}"
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

    text = redact(text) if text else ""
    text_hash = content_hash(text) if text else None
    ext = str(external_id).strip() if external_id is not None else None
    record: dict[str, Any] = {
        "item_id": make_item_id(ctx.source, ctx.kind, ext, text_hash),
        "source": ctx.source,
        "external_id": ext,
        "content_hash": text_hash,
        "created_at": created_at,
        "site": site,
        "channel": str(channel) if channel is not None else None,
        "customer_id": str(customer_id).strip() if customer_id is not None else None,
        "language": detect_language(text) if text else None,
        "text": text or None,
        "location": row.location,
        "line": row.line,
    }
    if ctx.kind == "feedback":
        record["rating"] = rating
    else:
        record.update(status=str(status) if status is not None else None,
                      resolved_at=resolved_at,
                      category=str(category) if category is not None else None)
    return record


def quarantine_entry(row: RawRow, ctx: RecordContext, rejected: Rejected) -> dict[str, Any]:
    if row.data is not None:
        raw = json.dumps(row.data, ensure_ascii=False, default=str)
    else:
        raw = row.raw_text or ""
    raw = redact(raw)
    key = f"{ctx.source}\x1f{row.location}\x1f{row.line}\x1f{rejected.reason}\x1f{raw}"
    return {
        "quarantine_id": hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32],
        "source": ctx.source,
        "item_kind": ctx.kind,
        "location": row.location,
        "line": row.line,
        "reason": rejected.reason,
        "detail": redact(rejected.detail),
        "raw": raw,
    }


@dataclass
class MappedBatch:
    items: pa.Table
    quarantine: pa.Table
    repeated_in_batch: int


def map_batch(rows: list[RawRow], ctx: RecordContext, run_id: str, now: datetime) -> MappedBatch:
    """Map a batch; later rows with an item id already seen in the batch are counted, not kept."""
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
        else:
            items[outcome["item_id"]] = outcome | {"run_id": run_id, "ingested_at": now}
    schema = FEEDBACK_SCHEMA if ctx.kind == "feedback" else COMPLAINT_SCHEMA
    return MappedBatch(
        pa.Table.from_pylist(list(items.values()), schema=schema),
        pa.Table.from_pylist(list(quarantined.values()), schema=QUARANTINE_SCHEMA),
        repeated,
    )
