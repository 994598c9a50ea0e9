"""Mapping raw rows to records: every bad row gets a reason, PII never reaches the record."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from mining.records import RecordContext, Rejected, make_item_id, map_batch, map_row
from mining.redact import pseudonymise
from mining.sources.base import RawRow
from mining.sources.config import ColumnMapping, SourcesFile

MAPPING = ColumnMapping(text="text", created_at="date", created_at_formats=["%m/%d/%Y %H:%M"],
                        site="site", rating="stars", external_id="id", customer_id="customer")
KEY = "test-key"


def ctx(kind: str = "feedback", require_text: bool = True, max_chars: int = 200,
        site_phone_regions: dict[str, tuple[str, ...]] | None = None) -> RecordContext:
    return RecordContext("src", kind, MAPPING, require_text, frozenset({"Leeds", "York"}),
                         max_chars, pseudonym_key=KEY,  # type: ignore[arg-type]
                         site_phone_regions=site_phone_regions or {})


def row(**data: object) -> RawRow:
    base: dict[str, object] = {"text": "Waited an hour", "date": "2/24/2015 11:35",
                               "site": "Leeds", "stars": "2", "id": "42", "customer": ""}
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
    outcome = map_row(RawRow("f", 1, {"text": "hi", "date": "2/24/2015 11:35", "customer": ""}),
                      ctx())
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


def test_quarantine_raw_is_normalised_before_redaction() -> None:
    rows = [row(text="电话：13800138000 ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", site="Narnia",
                customer="jane@example.com"),
            RawRow("f.csv", 9, None, "bad_encoding", "not UTF-8", "Tel:+44 20 7946 0958,x")]
    batch = map_batch(rows, ctx(max_chars=1000), "run", datetime.now())
    raws = batch.quarantine.column("raw").to_pylist()
    assert "13800138000" not in raws[0] and "ｊａｎｅ" not in raws[0] and "jane" not in raws[0]
    assert pseudonymise("jane@example.com", KEY) in raws[0]
    assert raws[1] == "Tel:[PHONE],x"


def customer(**data: object) -> str | None:
    record = map_row(row(**data), ctx())
    assert not isinstance(record, Rejected)
    return record["customer_id"]


def test_customer_ids_are_pseudonymised_and_still_link() -> None:
    jane = customer(customer="Jane.Doe@example.com")
    assert jane == customer(id="43", text="Rude staff", customer="jane.doe@example.com ")
    assert jane == pseudonymise("jane.doe@example.com", KEY) and "jane" not in jane
    assert customer(id="44", customer="C-1001") == pseudonymise("C-1001", KEY) != jane
    assert customer(id="45", customer="  ") is None


def test_site_phone_regions_apply_to_that_site() -> None:
    text = "reach us on 6123 4567"  # a Singapore number
    york = map_row(row(text=text, site="York"), ctx(site_phone_regions={"York": ("SG",)}))
    leeds = map_row(row(text=text), ctx(site_phone_regions={"York": ("SG",)}))
    assert not isinstance(york, Rejected) and not isinstance(leeds, Rejected)
    assert york["text"] == "reach us on [PHONE]" and leeds["text"] == text


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


def test_phone_regions_in_the_sources_config_are_checked() -> None:
    source = {"name": "s", "kind": "feedback", "type": "folder", "path": "x",
              "mapping": {"created_at": "date", "site_value": "York"}, "phone_regions": ["jp"]}
    parsed = SourcesFile.model_validate({"sources": [source],
                                         "site_phone_regions": {"York": ["SG"]}})
    assert parsed.sources[0].phone_regions == ["JP"]
    assert parsed.site_phone_regions == {"York": ["SG"]}
    with pytest.raises(ValidationError, match="not a phone region"):
        SourcesFile.model_validate({"sources": [source | {"phone_regions": ["XX"]}]})


# -- faults (issue 14) --------------------------------------------------------------------------
NOW = datetime(2026, 12, 1, 12, 0)


@pytest.mark.parametrize("stars", ["NaN", "nan", "inf", "-Infinity", float("nan"), float("inf")])
def test_non_finite_ratings_are_quarantined(stars: object) -> None:
    outcome = map_row(row(stars=stars), ctx())
    assert isinstance(outcome, Rejected) and outcome.reason == "bad_rating"
    assert "finite" in outcome.detail


@pytest.mark.parametrize(("date", "reason"), [
    ("2026-12-03T00:00:00", "future_date"),
    ("2099-01-01", "future_date"),
    ("1969-07-20T20:17:00", "implausible_date"),
    ("1970-01-01T00:00:00Z", "implausible_date"),
    ("1899-12-30", "implausible_date"),
    ("0001-01-01T00:00:00+01:00", "unparseable_date"),  # before year 1 in UTC
])
def test_dates_in_the_future_and_before_1970_are_quarantined(date: str, reason: str) -> None:
    outcome = map_row(row(date=date), ctx(), NOW)
    assert isinstance(outcome, Rejected) and outcome.reason == reason


def test_a_date_within_a_day_ahead_is_a_time_zone_not_a_fault() -> None:
    record = map_row(row(date="2026-12-02T10:00:00"), ctx(), NOW)
    assert not isinstance(record, Rejected)
    assert not isinstance(map_row(row(date="1970-01-01T00:00:01"), ctx(), NOW), Rejected)


def test_oversize_fields_emoji_only_text_and_a_nul_byte() -> None:
    outcome = map_row(row(site="L" * 5000), ctx())
    assert isinstance(outcome, Rejected) and outcome.reason == "oversize_field"
    emoji = map_row(row(text="😡😡👎"), ctx())
    assert not isinstance(emoji, Rejected)
    assert emoji["text"] == "😡😡👎" and emoji["language"] == "und"
    nul = map_row(row(text="cold\x00 soup"), ctx())
    assert not isinstance(nul, Rejected) and nul["text"] == "cold soup"


def test_feedback_never_stores_an_empty_text_and_says_so_in_the_config() -> None:
    outcome = map_row(row(text=""), ctx(require_text=False))
    assert isinstance(outcome, Rejected) and outcome.reason == "empty_text"
    source = {"name": "s", "kind": "feedback", "type": "folder", "path": "x",
              "require_text": False, "mapping": {"created_at": "date", "site_value": "York"}}
    with pytest.raises(ValidationError, match="only complaints may set require_text"):
        SourcesFile.model_validate({"sources": [source]})


def test_quarantine_keeps_a_redacted_head_of_a_huge_value() -> None:
    huge = "call 555-123-4567 " + "x" * 2_000_000
    batch = map_batch([row(text=huge)], ctx(), "run", NOW)
    raw = batch.quarantine.column("raw")[0].as_py()
    assert batch.quarantine.column("reason")[0].as_py() == "oversize_text"
    assert len(raw) < 11_000 and "555-123-4567" not in raw and "characters, cut]" in raw


@pytest.mark.parametrize("value", [
    "2026-06-01 10:05", "2026-6-1 3:05", "2026-06-01  10:05", "2026-06-01 10:05:07",
    "2026-06-01T10:05", "2026-06-01", "2026-06-01 10:05+02:00", "2026-06-01T10:05:00Z",
    "20260601", "2026-06-01 24:00", "2026-13-01 10:05", "01/06/2026 10:05", "not a date",
    "0001-01-01T00:00+01:00",
])
@pytest.mark.parametrize("formats", [["%Y-%m-%d %H:%M"], ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], [],
                                     ["%d/%m/%Y %H:%M"], ["%Y-%d-%m %H:%M"]])
def test_timestamps_read_as_strptime_then_iso_would(value: str, formats: list[str]) -> None:
    """ISO-ordered formats take a fromisoformat fast path; the result is what trying each
    strptime format in order, then ISO 8601, gives."""
    from mining.records import _naive_utc, parse_timestamp

    def reference() -> datetime | None:
        for fmt in formats:
            try:
                return datetime.strptime(value, fmt)
            except ValueError:
                continue
        try:
            return _naive_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except (ValueError, OverflowError):
            return None

    assert parse_timestamp(value, formats) == reference()
