"""Mapping raw rows to records: every bad row gets a reason, PII never reaches the record."""

from __future__ import annotations

from datetime import datetime

import pytest

from mining.records import RecordContext, Rejected, make_item_id, map_batch, map_row
from mining.sources.base import RawRow
from mining.sources.config import ColumnMapping

MAPPING = ColumnMapping(text="text", created_at="date", created_at_formats=["%m/%d/%Y %H:%M"],
                        site="site", rating="stars", external_id="id")


def ctx(kind: str = "feedback", require_text: bool = True, max_chars: int = 200) -> RecordContext:
    return RecordContext("src", kind, MAPPING, require_text, frozenset({"Leeds", "York"}),
                         max_chars)  # type: ignore[arg-type]


def row(**data: object) -> RawRow:
    base: dict[str, object] = {"text": "Waited an hour", "date": "2/24/2015 11:35",
                               "site": "Leeds", "stars": "2", "id": "42"}
    base.update(data)
    return RawRow("file.csv", 7, base)


def test_good_row_maps_to_a_record() -> None:
    record = map_row(row(), ctx())
    assert not isinstance(record, Rejected)
    assert record["created_at"] == datetime(2015, 2, 24, 11, 35)
    assert record["rating"] == 2.0 and record["site"] == "Leeds" and record["external_id"] == "42"
    assert record["language"] == "en" and record["line"] == 7
    assert record["item_id"] == make_item_id("src", "feedback", "42", record["content_hash"])


@pytest.mark.parametrize(("data", "reason"), [
    ({"text": "   "}, "empty_text"),
    ({"text": "<p></p>"}, "empty_text"),
    ({"text": "x" * 500}, "oversize_text"),
    ({"date": "yesterday"}, "unparseable_date"),
    ({"date": ""}, "missing_date"),
    ({"site": ""}, "missing_site"),
    ({"site": "Narnia"}, "unknown_site"),
    ({"stars": "five"}, "bad_rating"),
])
def test_bad_rows_are_rejected_with_a_reason(data: dict[str, object], reason: str) -> None:
    outcome = map_row(row(**data), ctx())
    assert isinstance(outcome, Rejected)
    assert outcome.reason == reason


def test_missing_column_and_unreadable_rows() -> None:
    outcome = map_row(RawRow("f", 1, {"text": "hi", "date": "2/24/2015 11:35"}), ctx())
    assert isinstance(outcome, Rejected) and outcome.reason == "missing_column"
    assert "'site'" in outcome.detail
    broken = map_row(RawRow("f", 2, None, "bad_encoding", "not UTF-8", "caf\\xe9"), ctx())
    assert broken == Rejected("bad_encoding", "not UTF-8")


def test_complaints_may_have_no_text_when_configured() -> None:
    record = map_row(row(text=""), ctx(kind="complaint", require_text=False))
    assert not isinstance(record, Rejected)
    assert record["text"] is None and record["content_hash"] is None


def test_iso_dates_with_timezones_become_naive_utc() -> None:
    record = map_row(row(date="2026-03-01T10:00:00+02:00"), ctx())
    assert not isinstance(record, Rejected)
    assert record["created_at"] == datetime(2026, 3, 1, 8, 0)


def test_pii_is_redacted_in_records_and_quarantine() -> None:
    text = "Call me on 555-123-4567 or mail jo.bloggs+x@example.co.uk, card 4111 1111 1111 1111"
    record = map_row(row(text=text), ctx(max_chars=1000))
    assert not isinstance(record, Rejected)
    for secret in ("555-123-4567", "jo.bloggs", "4111"):
        assert secret not in record["text"]
    batch = map_batch([row(text=text, site="Narnia")], ctx(max_chars=1000), "run", datetime.now())
    raw = batch.quarantine.column("raw")[0].as_py()
    assert "Narnia" in raw and "jo.bloggs" not in raw and "555-123-4567" not in raw


def test_batch_dedupes_repeated_ids_and_counts_them() -> None:
    rows = [row(), row(), row(id="43", text="Rude staff"), row(site="Narnia")]
    batch = map_batch(rows, ctx(), "run", datetime.now())
    assert batch.items.num_rows == 2
    assert batch.quarantine.num_rows == 1
    assert batch.repeated_in_batch == 1
    assert batch.items.num_rows + batch.quarantine.num_rows + batch.repeated_in_batch == len(rows)


def test_rows_without_external_id_are_keyed_by_content() -> None:
    a = map_row(row(id=""), ctx())
    b = map_row(row(id="", text="  Waited   an hour "), ctx())
    assert not isinstance(a, Rejected) and not isinstance(b, Rejected)
    assert a["external_id"] is None
    assert a["item_id"] == b["item_id"]
